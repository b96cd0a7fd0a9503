"""RoBERTa, XLM-RoBERTa, CamemBERT and ModernBERT masked-LMs run like BERT ones.

Each backbone is a tiny random checkpoint with a trained tokenizer of its family (see
tests/support/backbone_models.py), saved as published checkpoints are. For each: the model split
reproduces the model's own logits, the torch backend's pooling equals whole-logits pooling for
max and sum pooling and both activations, token ids follow the tokenizer's own template, batches
are padded with the tokenizer's pad id, vectors do not depend on batch composition, and a
checkpoint saved without its masked-LM head is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from spladekit import SpladeEncoder
from spladekit.backends import torch_backend
from spladekit.backends.torch_backend import TorchBackend, chunk_shape
from spladekit.checkpoint.families import supported_model_types
from spladekit.checkpoint.loading import load_masked_lm, load_tokenizer
from spladekit.checkpoint.spec import POOLING_STRATEGIES, PoolingSpec
from spladekit.errors import UnsupportedModelError
from spladekit.options import ACTIVATIONS
from spladekit.pooling import splade_pool, split_mlm
from spladekit.tokenize import TokenIds
from support.backbone_models import BACKBONES, ROBERTA_FAMILY, SENTENCES

# Texts of very different lengths (a few past ModernBERT's 8-token local window in the tests'
# model, one past 100 tokens), so that batches are length-sorted and padded.
TEXTS = [
    *SENTENCES,
    "x",
    "",
    " ".join(SENTENCES[:5]),
    "Graphene conducts electricity " * 6,
]


@pytest.fixture(scope="module")
def models(backbone_dirs: Mapping[str, Path]) -> dict[str, Any]:
    return {name: load_masked_lm(folder) for name, folder in backbone_dirs.items()}


def small_chunks(monkeypatch: pytest.MonkeyPatch, elements: int) -> None:
    """Make the torch backend run its head in chunks of a few texts by a narrow vocabulary
    slice (``elements`` logits at most), as it would a model with a huge vocabulary."""
    monkeypatch.setattr(torch_backend, "_CHUNK_ELEMENTS", elements)
    monkeypatch.setattr(torch_backend, "_MIN_SLICE", 16)


def tokenizer_batch(folder: Path, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch padded by the tokenizer itself, as transformers users would feed the model."""
    encoded = load_tokenizer(folder)(texts, padding=True, return_tensors="pt")
    return encoded["input_ids"], encoded["attention_mask"]


@pytest.mark.parametrize("backbone", BACKBONES)
def test_each_backbone_is_a_supported_masked_lm(backbone: str, models: dict[str, Any]) -> None:
    model = models[backbone]
    assert model.config.model_type in supported_model_types()
    assert type(model).__name__.endswith("ForMaskedLM")


@pytest.mark.parametrize("backbone", BACKBONES)
def test_the_split_reproduces_the_models_own_logits(
    backbone: str, models: dict[str, Any], backbone_dirs: Mapping[str, Path]
) -> None:
    model = models[backbone]
    parts = split_mlm(model)
    ids, mask = tokenizer_batch(backbone_dirs[backbone], TEXTS)
    with torch.inference_mode():
        want = model(input_ids=ids, attention_mask=mask).logits
        hidden = parts.transform(parts.encoder(ids, mask))
        got = torch.nn.functional.linear(hidden, parts.weight, parts.bias)
    assert float(parts.bias.abs().max()) > 0  # the builders give the head a non-zero bias
    assert float((want - got)[mask.bool()].abs().max()) <= 1e-5


@pytest.mark.parametrize("chunk_elements", [None, 20_000], ids=["one-chunk", "many-chunks"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("strategy", POOLING_STRATEGIES)
@pytest.mark.parametrize("backbone", BACKBONES)
def test_the_torch_backend_equals_whole_logits_pooling(
    backbone: str,
    strategy: str,
    activation: str,
    chunk_elements: int | None,
    models: dict[str, Any],
    backbone_dirs: Mapping[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if chunk_elements is not None:  # and the CPU head in blocks of 40 vocabulary rows
        small_chunks(monkeypatch, chunk_elements)
        monkeypatch.setattr(torch_backend, "_BLOCK_ELEMENTS", chunk_elements)
        monkeypatch.setattr(torch_backend, "_BLOCK_ROWS", 40)
    model = models[backbone]
    spec = PoolingSpec(strategy, activation)  # type: ignore[arg-type]
    ids, mask = tokenizer_batch(backbone_dirs[backbone], TEXTS)
    with torch.inference_mode():
        want = splade_pool(split_mlm(model), ids, mask, spec).numpy()
    got = TorchBackend(model, pooling=spec).pool(ids.numpy(), mask.numpy())
    assert got.shape == want.shape == (len(TEXTS), model.config.vocab_size)
    assert float(np.abs(got - want).max()) <= 1e-5


def test_logits_chunks_are_bounded_by_elements_whatever_the_vocabulary() -> None:
    budget = torch_backend._CHUNK_ELEMENTS
    for vocab in (30_522, 50_265, 50_368, 250_002):
        for batch, length in ((1, 8), (32, 512), (256, 512), (64, 8192), (2048, 64)):
            texts, step = chunk_shape(batch, length, vocab)
            assert 1 <= texts <= batch and 1 <= step <= vocab
            assert texts * length * step <= budget, (vocab, batch, length)


def test_the_chunked_head_equals_the_blocked_cpu_head(
    models: dict[str, Any], backbone_dirs: Mapping[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The chunked head runs off the CPU fp32 path (CUDA, bf16); it must give the same maxima.
    small_chunks(monkeypatch, 20_000)
    backend = TorchBackend(models["xlm-roberta"])
    ids, mask = tokenizer_batch(backbone_dirs["xlm-roberta"], TEXTS)
    with torch.inference_mode():
        hidden = backend.transform(backend.encoder(ids, mask))
        blocked = backend._head_max_cpu(hidden)
        backend.weight = backend.weight.T.contiguous()  # the (vocab, hidden) layout it reads
        chunked = backend._head_max_chunked(hidden)
    assert float((blocked - chunked).abs().max()) <= 1e-5


@pytest.mark.parametrize("backbone", BACKBONES)
def test_token_ids_follow_the_tokenizers_own_template(
    backbone: str, backbone_dirs: Mapping[str, Path]
) -> None:
    tokenizer = load_tokenizer(backbone_dirs[backbone])
    tokens = TokenIds(tokenizer)
    texts = [t for t in TEXTS if t]
    assert tokens.truncated(texts, 512)[0] == tokenizer(texts)["input_ids"]
    assert tokens.content(texts) == tokenizer(texts, add_special_tokens=False)["input_ids"]
    cut, was_cut = tokens.truncated(texts, 8)
    assert cut == tokenizer(texts, truncation=True, max_length=8)["input_ids"]
    assert sum(was_cut) > 0
    assert tokens.pad_id == tokenizer.pad_token_id


def test_the_roberta_family_pads_with_pad_not_with_the_start_token(
    backbone_dirs: Mapping[str, Path],
) -> None:
    for backbone in ROBERTA_FAMILY:
        tokens = TokenIds(load_tokenizer(backbone_dirs[backbone]))
        assert tokens.pad_id == 1 and tokens.cls_id != 1
    # ModernBERT's pad token comes after its vocabulary, as in the real one.
    modern = TokenIds(load_tokenizer(backbone_dirs["modernbert"]))
    assert modern.pad_id not in (0, 1, modern.cls_id, modern.sep_id)


def test_a_tokenizer_with_another_template_is_refused() -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "[PAD]": 3, "hello": 4, "world": 5}
    rust = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    rust.pre_tokenizer = pre_tokenizers.Whitespace()
    # A template that ends every text with [SEP] only, as T5-style models do.
    rust.post_processor = processors.TemplateProcessing(
        single="$A [SEP]", special_tokens=[("[SEP]", 2)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=rust, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        pad_token="[PAD]",
    )
    with pytest.raises(UnsupportedModelError, match="wraps a text as ids") as info:
        TokenIds(tokenizer)
    assert "ids [] + the text + ids [2]" in str(info.value)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_batches_are_padded_with_the_tokenizers_pad_id(
    backbone: str, backbone_dirs: Mapping[str, Path]
) -> None:
    encoder = SpladeEncoder(backbone_dirs[backbone], batch_size=4)
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    pool = encoder.backend.pool

    def recording_pool(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        seen.append((ids.copy(), mask.copy()))
        return pool(ids, mask)

    encoder.backend.pool = recording_pool  # type: ignore[method-assign]
    encoder.encode(TEXTS)
    pad = encoder.tokenizer.pad_token_id
    own = encoder.tokenizer(TEXTS)["input_ids"]
    assert any((mask == 0).any() for _, mask in seen)  # some batch had padding
    for ids, mask in seen:
        assert (ids[mask == 0] == pad).all()
        # Each row's real tokens are what the tokenizer itself makes of one of the texts.
        for row, real in zip(ids, mask.astype(bool), strict=True):
            assert row[real].tolist() in own


@pytest.mark.parametrize("long_documents", ["truncate", "window"])
@pytest.mark.parametrize("backbone", BACKBONES)
def test_a_text_gets_the_same_vector_alone_and_in_any_batch(
    backbone: str, long_documents: str, backbone_dirs: Mapping[str, Path]
) -> None:
    encoder = SpladeEncoder(
        backbone_dirs[backbone], batch_size=4, long_documents=long_documents,
        document_max_length=24,
    )
    together = encoder.encode_documents(TEXTS).toarray()
    for i, text in enumerate(TEXTS):
        alone = encoder.encode_documents([text]).toarray()[0]
        assert float(np.abs(together[i] - alone).max()) <= 1e-5, f"text {i}"


def test_windows_merge_the_same_whatever_the_group_size(
    backbone_dirs: Mapping[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from spladekit import routes as routes_module

    encoder = SpladeEncoder(
        backbone_dirs["xlm-roberta"], long_documents="window", document_max_length=16
    )
    grouped = encoder.encode_documents(TEXTS).toarray()
    # One text per group and one sequence per batch: the smallest dense buffers there are.
    monkeypatch.setattr(routes_module, "_DENSE_ELEMENTS", encoder.dim)
    one_by_one = encoder.encode_documents(TEXTS).toarray()
    assert float(np.abs(grouped - one_by_one).max()) <= 1e-5
    assert (grouped > 0).sum(axis=1).min() > 0


def _save_headless(model: Any, tokenizer_dir: Path, out: Path) -> Path:
    base = model.base_model  # RobertaModel, XLMRobertaModel, CamembertModel, ModernBertModel
    base.save_pretrained(str(out))
    load_tokenizer(tokenizer_dir).save_pretrained(str(out))
    return out


@pytest.mark.parametrize("backbone", BACKBONES)
def test_a_checkpoint_without_its_masked_lm_head_is_refused(
    backbone: str, models: dict[str, Any], backbone_dirs: Mapping[str, Path], tmp_path: Path
) -> None:
    folder = _save_headless(models[backbone], backbone_dirs[backbone], tmp_path / "headless")
    with pytest.raises(UnsupportedModelError, match="has no masked-LM head") as info:
        SpladeEncoder(folder)
    head = "head.dense" if backbone == "modernbert" else "lm_head."
    assert head in str(info.value)
    assert models[backbone].config.model_type in str(info.value)
