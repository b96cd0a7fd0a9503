"""Extending spladekit without touching its source: a new backbone family and a new backend,
each registered from here and used end to end (docs/ARCHITECTURE.md names these steps)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from spladekit import SpladeEmbeddingFunction, SpladeEncoder
from spladekit.backends import (
    Backend,
    BackendRequest,
    register_backend,
    unregister_backend,
)
from spladekit.checkpoint import (
    BackboneFamily,
    HeadPaths,
    register_family,
    supported_model_types,
    unregister_family,
)
from spladekit.errors import InvalidArgumentError, UnsupportedModelError
from spladekit.pooling import reference_pool
from spladekit.vectors import CsrParts, prune_dense

TEXTS = ["sparse retrieval with learned term weights", "a second, longer text about proteins"]

ELECTRA = BackboneFamily(
    "ELECTRA", ("electra",), "electra",
    HeadPaths(
        "generator_predictions.dense", "generator_predictions.activation",
        "generator_predictions.LayerNorm", "generator_lm_head",
    ),
    ("generator_predictions.", "generator_lm_head."),
    onnx=False,
)


@pytest.fixture(scope="module")
def electra_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random ELECTRA masked-LM (a type spladekit does not ship) with splade-tiny's
    tokenizer."""
    from transformers import AutoTokenizer, ElectraConfig, ElectraForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    config = ElectraConfig(
        vocab_size=len(tokenizer), embedding_size=32, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
    )
    torch.manual_seed(0)
    model = ElectraForMaskedLM(config).eval()
    folder = tmp_path_factory.mktemp("electra")
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture()
def electra_family() -> Iterator[BackboneFamily]:
    register_family(ELECTRA)
    try:
        yield ELECTRA
    finally:
        unregister_family(ELECTRA)


def reference_vectors(folder: Path, texts: list[str]) -> NDArray[np.float32]:
    """transformers' whole logits, pooled by the definition (no spladekit fast path)."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForMaskedLM.from_pretrained(str(folder)).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**batch).logits
    return reference_pool(logits, batch["attention_mask"]).numpy()


def test_an_unregistered_backbone_is_refused_by_name(electra_dir: Path) -> None:
    with pytest.raises(UnsupportedModelError, match=r"'electra'.*register_family"):
        SpladeEncoder(electra_dir)


def test_a_backbone_family_registered_from_outside_encodes_end_to_end(
    electra_dir: Path, electra_family: BackboneFamily
) -> None:
    assert "electra" in supported_model_types()
    got = SpladeEncoder(electra_dir).encode(TEXTS).toarray()
    want = reference_vectors(electra_dir, TEXTS)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # The drop-in face runs it too.
    function = SpladeEmbeddingFunction(str(electra_dir))
    np.testing.assert_allclose(function(TEXTS).toarray(), want, atol=1e-5)


def test_a_family_that_declares_no_onnx_export_is_refused_by_the_exporter(
    electra_dir: Path, electra_family: BackboneFamily, tmp_path: Path
) -> None:
    pytest.importorskip("onnx")
    from spladekit import export_onnx

    with pytest.raises(UnsupportedModelError, match="ONNX export does not support ELECTRA"):
        export_onnx(electra_dir, tmp_path / "out")


def test_a_registered_family_cannot_silently_replace_a_built_in_one() -> None:
    bert_again = BackboneFamily(
        "BERT again", ("bert",), "bert", ELECTRA.head, ELECTRA.head_prefixes
    )
    with pytest.raises(InvalidArgumentError, match="already registered"):
        register_family(bert_again)


class DefinitionBackend:
    """A backend built from outside spladekit: transformers' logits pooled by the definition."""

    sparse_on_device = False
    tokens_per_batch: int | None = None
    texts_per_batch: int | None = None

    def __init__(self, request: BackendRequest) -> None:
        from transformers import AutoModelForMaskedLM

        self.model = AutoModelForMaskedLM.from_pretrained(str(request.folder)).eval()
        self.vocab_size = int(self.model.config.vocab_size)
        self.calls = 0

    def pool(
        self, input_ids: NDArray[np.int64], attention_mask: NDArray[np.int64]
    ) -> NDArray[np.float32]:
        self.calls += 1
        ids, mask = torch.from_numpy(input_ids), torch.from_numpy(attention_mask)
        with torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask).logits
        pooled: NDArray[np.float32] = reference_pool(logits, mask).numpy()
        return pooled

    def pool_sparse(
        self,
        input_ids: NDArray[np.int64],
        attention_mask: NDArray[np.int64],
        top_k: int | None,
        threshold: float,
    ) -> CsrParts:
        return prune_dense(self.pool(input_ids, attention_mask), top_k=top_k, threshold=threshold)


@pytest.fixture()
def definition_backend() -> Iterator[list[DefinitionBackend]]:
    built: list[DefinitionBackend] = []

    def factory(request: BackendRequest) -> Backend:
        backend = DefinitionBackend(request)
        built.append(backend)
        return backend

    register_backend("definition", factory)
    try:
        yield built
    finally:
        unregister_backend("definition")


def test_a_backend_registered_from_outside_encodes_end_to_end(
    tiny_model_dir: Path, tiny_encoder: SpladeEncoder, definition_backend: list[DefinitionBackend]
) -> None:
    encoder = SpladeEncoder(tiny_model_dir, backend="definition")
    assert encoder.backend_name == "definition"
    got = encoder.encode_queries(TEXTS).toarray()
    np.testing.assert_allclose(got, tiny_encoder.encode_queries(TEXTS).toarray(), atol=1e-5)
    assert definition_backend and definition_backend[0].calls > 0


def test_an_unknown_backend_is_refused_with_the_registered_names(tiny_model_dir: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="backend must be one of torch, onnx"):
        SpladeEncoder(tiny_model_dir, backend="definition")
