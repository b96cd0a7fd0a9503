"""Every model family spladekit reads gives sentence-transformers 6.2's vectors.

Each family's checkpoint is written once per session by tests/support/checkpoints.py, as its
publisher lays it out, and loaded both by ``sentence_transformers.SparseEncoder`` (the
reference) and by spladekit. Queries go through the query route with the model's query prompt,
documents through the document route with its document prompt, ``encode()`` through the document
route without a prompt; the model's ``max_active_dims`` is the default top-k. Vectors must agree
to 1e-5 with the same non-zero entries, through ``SpladeEncoder``, ``SpladeEmbeddingFunction``,
an ONNX export (1e-4, the ONNX suite's fp32 tolerance) and ``spladekit serve``. Folders
spladekit cannot run faithfully are refused with ``UnsupportedModelError`` naming what was
found.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import support.checkpoints as ck
from spladekit import KNOWN_MODELS, SpladeEmbeddingFunction, SpladeEncoder, export_onnx
from spladekit.errors import UnsupportedModelError
from support.serve_process import ServeProcess, post

LONG = "Protein folding is guided by hydrophobic collapse and the formation of secondary structure "
TEXTS = [
    "Vitamin D deficiency is associated with an increased risk of fractures.",
    "who invented the telephone",
    "The QUICK Brown Fox Jumps Over The Lazy Dog",  # upper case
    LONG * 3,  # over the capped families' 32 tokens (and the two-encoder route's 24 and 48)
    "x",
    "",
]
FAMILIES = list(ck.FAMILIES)
# Single masked LM with max pooling: the families an ONNX export covers.
ONNX_FAMILIES = ["st6", "log1p-relu", "roberta", "modernbert"]
SERVED_FAMILIES = ["st6", "router-idf"]  # one symmetric, one inference-free
TOL = 1e-5
DENSE = {"convert_to_tensor": True, "convert_to_sparse_tensor": False}  # sentence-transformers'


@pytest.fixture(scope="session")
def checkpoints(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path,
    backbone_dirs: Mapping[str, Path],
) -> ck.Checkpoints:
    return ck.Checkpoints(tmp_path_factory.mktemp("families"), tiny_model_dir, backbone_dirs)


class Reference:
    """sentence-transformers' vectors of TEXTS for one family, as dense float32 arrays."""

    def __init__(self, model: Any) -> None:
        self.query = model.encode_query(TEXTS, **DENSE).cpu().numpy()
        self.document = model.encode_document(TEXTS, **DENSE).cpu().numpy()
        self.plain = model.encode(TEXTS, **DENSE).cpu().numpy()
        self.dim = int(self.plain.shape[1])
        self.model = model


@pytest.fixture(scope="session")
def references(checkpoints: ck.Checkpoints) -> Iterator[dict[str, Reference]]:
    """Each family loaded by sentence-transformers once, on first use."""

    class Cache(dict[str, Reference]):
        def __missing__(self, name: str) -> Reference:
            self[name] = Reference(ck.load_reference(name, checkpoints(name)))
            return self[name]

    yield Cache()


def vocab_size(folder: Path) -> int:
    """The masked LM's vocabulary size (the document route's, for a Router)."""
    configs = sorted(folder.glob("document_*/config.json")) or [folder / "config.json"]
    return int(json.loads(configs[0].read_text())["vocab_size"])


def assert_same_vectors(got: Any, expected: np.ndarray, what: str, tol: float = TOL) -> None:
    """``got`` (spladekit's SparseVectors) equals ``expected`` row by row: same non-zeros."""
    dense = got.toarray()
    assert dense.shape == expected.shape, f"{what}: shape {dense.shape} != {expected.shape}"
    for i, text in enumerate(TEXTS):
        ours, theirs = set(np.flatnonzero(dense[i])), set(np.flatnonzero(expected[i]))
        assert ours == theirs, (
            f"{what}, text {i} ({text[:30]!r}): non-zeros differ; only spladekit's "
            f"{sorted(ours - theirs)[:8]}, only sentence-transformers' {sorted(theirs - ours)[:8]}"
        )
        diff = float(np.abs(dense[i] - expected[i]).max(initial=0.0))
        assert diff <= tol, f"{what}, text {i} ({text[:30]!r}): max abs difference {diff:.2e}"


def assert_same_sides(
    what: str, ref: Reference, queries: Any, documents: Any, plain: Any, tol: float = TOL
) -> None:
    """spladekit's query, document and plain vectors of TEXTS equal sentence-transformers'."""
    assert_same_vectors(queries, ref.query, f"{what} queries", tol)
    assert_same_vectors(documents, ref.document, f"{what} documents", tol)
    assert_same_vectors(plain, ref.plain, f"{what} plain", tol)


# -- the checkpoints mean what they say, under sentence-transformers -------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_sentence_transformers_loads_the_family(name: str, references: dict[str, Reference],
                                                checkpoints: ck.Checkpoints) -> None:
    ref = references[name]
    assert ref.dim == vocab_size(checkpoints(name))
    assert ref.document.shape == (len(TEXTS), ref.dim)
    assert (ref.document[:4] > 0).any(axis=1).all(), "a real text encoded to an empty vector"


@pytest.mark.parametrize("name", ["st6", "st5"])
def test_capped_families_truncate_and_prompt(name: str, references: dict[str, Reference]) -> None:
    model = references[name].model
    long, longer = model.encode([LONG * 3, LONG * 3 + " graphene copper"], **DENSE)
    assert bool((long == longer).all()), "the 32-token cap did not apply"
    ref = references[name]
    assert (ref.query != ref.plain).any() and (ref.document != ref.plain).any()


def test_st5_lowercases_through_do_lower_case(
    references: dict[str, Reference], checkpoints: ck.Checkpoints
) -> None:
    # Its tokenizer keeps case (upper-case words are [UNK] to it); do_lower_case must apply.
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(checkpoints("st5")).tokenize("QUICK") == ["[UNK]"]
    model = references["st5"].model
    upper, lower = model.encode(["THE QUICK Fox", "the quick fox"], **DENSE)
    # Same tokens; two rows of one batch can still differ in the last float bits.
    assert float((upper - lower).abs().max()) <= TOL


def test_st6_keeps_max_active_dims(references: dict[str, Reference]) -> None:
    for vectors in (references["st6"].query, references["st6"].document):
        assert ((vectors > 0).sum(axis=1) <= ck.MAX_ACTIVE_DIMS).all()
    assert ((references["plain-hf"].document > 0).sum(axis=1) > ck.MAX_ACTIVE_DIMS).any()


@pytest.mark.parametrize("name", ["router-idf", "router-idf-5x", "opensearch-idf-json"])
def test_inference_free_queries_weigh_only_their_own_tokens(
    name: str, references: dict[str, Reference]
) -> None:
    ref = references[name]
    tokenizer = ref.model.tokenizer
    for i, text in enumerate(TEXTS):
        ids = set(tokenizer(text, add_special_tokens=False)["input_ids"])
        assert set(np.flatnonzero(ref.query[i])) <= ids
    assert (ref.query != ref.document).any()


def test_two_encoder_routes_differ(references: dict[str, Reference]) -> None:
    ref = references["router-two-encoders"]
    assert (ref.query != ref.document).any()


# -- spladekit gives the same vectors --------------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_encoder_gives_sentence_transformers_vectors(
    name: str, references: dict[str, Reference], checkpoints: ck.Checkpoints
) -> None:
    ref = references[name]
    encoder = SpladeEncoder(checkpoints(name))
    assert encoder.dim == ref.dim
    assert_same_sides(f"{name} SpladeEncoder", ref, encoder.encode_queries(TEXTS),
                      encoder.encode_documents(TEXTS), encoder.encode(TEXTS))


@pytest.mark.parametrize("name", FAMILIES)
def test_embedding_function_gives_sentence_transformers_vectors(
    name: str, references: dict[str, Reference], checkpoints: ck.Checkpoints
) -> None:
    ref = references[name]
    function = SpladeEmbeddingFunction(str(checkpoints(name)))
    assert function.dim == ref.dim
    assert_same_sides(f"{name} SpladeEmbeddingFunction", ref, function.encode_queries(TEXTS),
                      function.encode_documents(TEXTS), function(TEXTS))


@pytest.mark.parametrize("name", ONNX_FAMILIES)
def test_onnx_export_gives_sentence_transformers_vectors(
    name: str, references: dict[str, Reference], checkpoints: ck.Checkpoints, tmp_path: Path
) -> None:
    ref = references[name]
    encoder = SpladeEncoder(export_onnx(checkpoints(name), tmp_path / "onnx"))
    assert encoder.backend_name == "onnx" and encoder.dim == ref.dim
    assert_same_sides(f"{name} onnx", ref, encoder.encode_queries(TEXTS),
                      encoder.encode_documents(TEXTS), encoder.encode(TEXTS), tol=1e-4)


class _Rows:
    """TEI's /embed_sparse answer as something with ``toarray()``."""

    def __init__(self, rows: list[list[dict[str, Any]]], dim: int) -> None:
        self.dense = np.zeros((len(rows), dim), dtype=np.float32)
        for i, row in enumerate(rows):
            for entry in row:
                self.dense[i, entry["index"]] = entry["value"]

    def toarray(self) -> np.ndarray:
        return self.dense


@pytest.mark.parametrize("name", SERVED_FAMILIES)
def test_serve_gives_sentence_transformers_vectors(
    name: str, references: dict[str, Reference], checkpoints: ck.Checkpoints, tmp_path: Path
) -> None:
    ref = references[name]
    process = ServeProcess(
        ["--model", str(checkpoints(name)), "--uri", str(tmp_path / "unused.db")], tmp_path
    ).start()
    try:
        process.wait_ready()
        served = []
        for prompt_name in ("query", "document", None):
            body: dict[str, Any] = {"inputs": TEXTS}
            if prompt_name is not None:
                body["prompt_name"] = prompt_name
            answer = post(process.url, "/embed_sparse", body)
            assert answer.status_code == 200, answer.text
            served.append(_Rows(answer.json(), ref.dim))
        assert_same_sides(f"{name} served (prompt_name query, document, none)", ref, *served)
    finally:
        code = process.stop()
    assert code == 0, process.log


@pytest.mark.parametrize("name", ["sum-pooling", "log1p-relu", "router-two-encoders", "roberta",
                                  "xlm-roberta", "camembert", "modernbert"])
def test_description_names_backbone_and_pooling(name: str, checkpoints: ck.Checkpoints) -> None:
    described = str(SpladeEncoder(checkpoints(name)).description)
    expected = {
        "sum-pooling": ["bert", "sum"], "log1p-relu": ["bert", "log1p_relu"],
        "router-two-encoders": ["bert", "distilbert"],
    }.get(name, [name])
    for word in expected:
        assert word in described.lower(), f"{word!r} not in {described!r}"


def test_the_readmes_table_of_published_checkpoints_is_known_models() -> None:
    # KNOWN_MODELS is the one home of what is known about published checkpoints; the README's
    # table shows each of its fields (the family without its parenthesis).
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    header = "| model | family | backbone | licence | note |\n|---|---|---|---|---|\n"
    assert header in readme
    table = readme.split(header, 1)[1].split("\n\n", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()]
    expected = [
        [f"`{info.name}`", info.family.split(" (")[0], info.backbone, info.licence, info.note]
        for info in KNOWN_MODELS.values()
    ]
    assert rows == expected


# -- refusals --------------------------------------------------------------------------------

REFUSED = {
    "csr": ["SparseAutoEncoder"],
    "dense-pooling": ["Pooling"],
    "auto-map": ["custom code"],
    "custom-module": ["custom code", ck.CUSTOM_MODULE_TYPE],
    "unknown-module": ["FancyPooling"],
    "normalize": ["Normalize"],
    "router-three-routes": ["title"],
    "router-query-two-mlms": ["query"],
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_unsupported_folders_are_refused_by_name(name: str, checkpoints: ck.Checkpoints) -> None:
    with pytest.raises(UnsupportedModelError) as refused:
        SpladeEncoder(checkpoints(name))
    for named in REFUSED[name]:
        assert named in str(refused.value), f"{named!r} not named in: {refused.value}"
