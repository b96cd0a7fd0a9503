"""The fast paths equal the SPLADE formula written plainly (pooling.splade_pool).

The torch backend (lean forward, blocked head, sparse activation) and the lean BERT, DistilBERT
and RoBERTa-family forwards are checked against transformers' own modules and whole-logits
pooling, on padded batches (tests/test_backbones.py does the same for every backbone's
checkpoint with its tokenizer).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spladekit.backends.lean import lean_parts
from spladekit.backends.torch_backend import TorchBackend
from spladekit.pooling import activate, activate_in_place, reference_pool, splade_pool, split_mlm
from support.backbone_models import RobertaFamily, roberta_classes


def small_model(kind: str) -> torch.nn.Module:
    from transformers import (
        BertConfig,
        BertForMaskedLM,
        DistilBertConfig,
        DistilBertForMaskedLM,
    )

    torch.manual_seed(0)
    if kind == "bert":
        config = BertConfig(
            vocab_size=500, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=128,
        )
        return BertForMaskedLM(config).eval()
    config = DistilBertConfig(vocab_size=500, dim=64, n_layers=2, n_heads=4, hidden_dim=128)
    return DistilBertForMaskedLM(config).eval()


def padded_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    lengths = [9, 3, 6, 1 + 1]
    ids = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(5, 500, (n,), generator=generator)
        mask[row, :n] = 1
    return ids, mask


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_the_lean_forward_equals_transformers(kind: str) -> None:
    model = small_model(kind)
    parts = split_mlm(model)
    lean = lean_parts(model)
    assert lean is not None
    encoder, transform = lean
    ids, mask = padded_batch()
    with torch.inference_mode():
        want = parts.transform(parts.encoder(ids, mask))
        got = transform(encoder(ids, mask))
    real = mask.bool()
    assert float((want - got)[real].abs().max()) <= 1e-5


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_the_backend_equals_whole_logits_pooling(kind: str) -> None:
    model = small_model(kind)
    ids, mask = padded_batch()
    with torch.inference_mode():
        want = splade_pool(split_mlm(model), ids, mask).numpy()
    got = TorchBackend(model).pool(ids.numpy(), mask.numpy())
    np.testing.assert_allclose(got, want, atol=1e-5)
    # Each text alone (no padding at all) gets the same row as in the padded batch.
    for row in range(ids.shape[0]):
        n = int(mask[row].sum())
        one = slice(row, row + 1)
        alone = TorchBackend(model).pool(ids[one, :n].numpy(), mask[one, :n].numpy())
        np.testing.assert_allclose(alone[0], want[row], atol=1e-5)


def test_padding_never_counts_in_the_reference_formula() -> None:
    logits = torch.tensor([[[1.0, -2.0], [5.0, 3.0]]])
    mask = torch.tensor([[1, 0]])
    assert reference_pool(logits, mask)[0].tolist() == pytest.approx([np.log1p(1.0), 0.0])


def test_the_sparse_activation_equals_the_dense_one() -> None:
    rng = np.random.default_rng(0)
    maxima = rng.normal(-2.0, 1.5, size=(3, 1000)).astype(np.float32)
    bias = rng.normal(0.0, 0.5, size=1000).astype(np.float32)
    want = activate(torch.from_numpy(maxima), torch.from_numpy(bias)).numpy()
    got = maxima.copy()
    activate_in_place(got, bias)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert (got >= 0).all() and (got == 0).mean() > 0.5


def test_models_the_lean_forward_does_not_cover_keep_transformers() -> None:
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, is_decoder=True,
    )
    assert lean_parts(BertForMaskedLM(config)) is None


def small_roberta(kind: RobertaFamily) -> torch.nn.Module:
    config_class, model_class = roberta_classes(kind)
    torch.manual_seed(0)
    config = config_class(
        vocab_size=500, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, max_position_embeddings=514, pad_token_id=1, type_vocab_size=1,
    )
    return model_class(config).eval()


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("kind", ["roberta", "xlm-roberta", "camembert"])
def test_the_lean_roberta_forward_equals_transformers(kind: RobertaFamily, side: str) -> None:
    # RoBERTa's positions start at padding_idx + 1 and skip padding: with left padding a
    # text's first real token still gets position padding_idx + 1, as in transformers.
    model = small_roberta(kind)
    parts = split_mlm(model)
    lean = lean_parts(model)
    assert lean is not None
    encoder, transform = lean
    ids, mask = padded_batch()
    ids[mask == 0] = 1  # the RoBERTa family's <pad>
    if side == "left":
        ids, mask = ids.flip(1), mask.flip(1)
        ids = torch.where(mask.bool(), ids, 1)
    with torch.inference_mode():
        want = parts.transform(parts.encoder(ids, mask))
        got = transform(encoder(ids, mask))
    real = mask.bool()
    assert float((want - got)[real].abs().max()) <= 1e-5


def test_modernbert_keeps_transformers_forward() -> None:
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    config = ModernBertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1,
        sep_token_id=2,
    )
    assert lean_parts(ModernBertForMaskedLM(config)) is None
