"""Extending spladekit without touching its source: a new backbone family, a new backend, a new
store and a framework adapter, each built here and used end to end (docs/ARCHITECTURE.md names
these steps)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from spladekit import Record, Retriever, SpladeEmbeddingFunction, SpladeEncoder
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
from spladekit.checkpoint.identity import ModelIdentity
from spladekit.errors import InvalidArgumentError, ModelMismatchError, UnsupportedModelError
from spladekit.integrations.common import document_rows, query_rows, resolve_encoder
from spladekit.pooling import reference_pool
from spladekit.store.input_checks import check_upsert
from spladekit.store.model_record import adoption
from spladekit.store.protocol import (
    Hit,
    SearchMode,
    SearchOptions,
    StoredDocument,
    UpsertResult,
)
from spladekit.vectors import CsrParts, prune_dense, to_milvus_rows

TEXTS = ["sparse retrieval with learned term weights", "a second, longer text about proteins"]

ELECTRA = BackboneFamily(
    "ELECTRA", ("electra",), "electra",
    HeadPaths(
        "generator_predictions.dense", "generator_predictions.activation",
        "generator_predictions.LayerNorm", "generator_lm_head",
    ),
    ("generator_predictions.", "generator_lm_head."),
    onnx=False,
    masked_lm="ElectraForMaskedLM",
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


class DictStore:
    """A store written outside spladekit: documents in a dict, exact inner-product search.

    The model rule and the upsert checks are spladekit's own (``adoption``, ``check_upsert``),
    so this store refuses what every store refuses."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[dict[int, float], str, dict[str, Any]]] = {}
        self.recorded: ModelIdentity | None = None

    @property
    def search_modes(self) -> tuple[SearchMode, ...]:
        return ("splade",)

    def adopt_model(self, model: ModelIdentity, *, allow_other_model: bool = False) -> None:
        action = adoption(self.recorded, model, allow_other_model=allow_other_model,
                          where="the dict store")
        if action != "keep":
            self.recorded = model

    def upsert(self, ids: Any, vectors: object, texts: Any = None,
               metadata: Any = None) -> UpsertResult:
        new = check_upsert(ids, vectors, texts, metadata)
        for doc in new:
            self.rows[doc.id] = (dict(doc.row), doc.text, dict(doc.metadata))
        return UpsertResult(len(new), [d.id for d in new if not d.row])

    def existing_ids(self, ids: Any) -> set[str]:
        return {i for i in ids if i in self.rows}

    def get(self, ids: Any) -> list[StoredDocument]:
        return [StoredDocument(i, self.rows[i][1], self.rows[i][2], not self.rows[i][0])
                for i in ids if i in self.rows]

    def get_vectors(self, ids: Any) -> dict[str, dict[int, float]]:
        return {i: self.rows[i][0] for i in ids if i in self.rows}

    def count(self) -> int:
        return len(self.rows)

    def delete(self, ids: Any) -> None:
        for i in ids:
            self.rows.pop(i, None)

    def search(self, vectors: object, k: int = 10, *, texts: Any = None,
               options: SearchOptions | None = None, **changes: Any) -> list[list[Hit]]:
        results = []
        for query in to_milvus_rows(vectors):
            scored = sorted(
                ((sum(w * row.get(t, 0.0) for t, w in query.items()), i)
                 for i, (row, _, _) in self.rows.items() if row),
                key=lambda pair: (-pair[0], pair[1]),
            )
            results.append([Hit(i, s, self.rows[i][1], self.rows[i][2])
                            for s, i in scored[:k] if s > 0])
        return results

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_store_written_outside_spladekit_indexes_and_searches_through_a_retriever(
    tiny_model_dir: Path,
) -> None:
    function = SpladeEmbeddingFunction(str(tiny_model_dir))
    store = DictStore()
    retriever = Retriever(function, store)
    corpus = [
        Record("bones", "Vitamin D deficiency is associated with fractures in older adults."),
        Record("graphene", "Graphene conducts electricity better than copper."),
        Record("empty", ""),
    ]
    report = retriever.index(corpus)
    assert (report.encoded, store.count()) == (3, 3)
    assert report.empty == sum(1 for row, _, _ in store.rows.values() if not row)
    hits = retriever.search("vitamin D and bone fractures", k=2)
    assert hits and hits[0].id == "bones"
    # Indexing again skips what is stored, and another model is refused by the shared rule.
    assert retriever.index(corpus).skipped == 3
    with pytest.raises(ModelMismatchError):
        store.adopt_model(ModelIdentity("another", "0" * 16))


def test_a_framework_adapter_built_on_the_common_helpers_gives_the_functions_vectors(
    tiny_model_dir: Path,
) -> None:
    class Adapter:
        """What an integration module holds: an encoder resolved once, rows per call."""

        def __init__(self, model: object) -> None:
            self.encoder = resolve_encoder(model, {})

        def embed_query(self, text: str) -> dict[int, float]:
            return query_rows(self.encoder, [text])[0]

        def embed_documents(self, texts: list[str]) -> list[dict[int, float]]:
            return document_rows(self.encoder, texts)

    adapter = Adapter(str(tiny_model_dir))
    function = SpladeEmbeddingFunction(str(tiny_model_dir))
    want_query = to_milvus_rows(function.encode_queries([TEXTS[0]]))[0]
    assert adapter.embed_query(TEXTS[0]).keys() == want_query.keys()
    got = adapter.embed_documents(TEXTS)
    want = to_milvus_rows(function.encode_documents(TEXTS))
    for row, expected in zip(got, want, strict=True):
        assert row.keys() == expected.keys()
        np.testing.assert_allclose(
            [row[t] for t in sorted(row)], [expected[t] for t in sorted(expected)], rtol=1e-6
        )
