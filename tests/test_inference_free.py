"""An inference-free model built from any SPLADE document encoder and a corpus.

``build_inference_free`` writes a sentence-transformers Router folder: the document route is the
given model, unchanged; the query route weighs each distinct query token by its IDF in the
corpus. Both spladekit and sentence-transformers load it and agree on its vectors, and
``spladekit inspect`` says what it is.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spladekit import SpladeEncoder, build_inference_free
from spladekit.errors import InputTypeError, InvalidArgumentError

CORPUS = [
    "Graphene conducts heat and electricity.",
    "The telephone was patented in 1876.",
    "Graphene is a single layer of carbon atoms.",
    "Vitamin D deficiency raises the risk of fractures.",
]
QUERIES = ["what is graphene", "Who patented the TELEPHONE?", "zebra"]


@pytest.fixture(scope="module")
def built(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_inference_free(tiny_model_dir, CORPUS, tmp_path_factory.mktemp("if") / "model")


def test_query_vectors_are_the_corpus_idf_of_each_distinct_token(built: Path) -> None:
    encoder = SpladeEncoder(built)
    tokens = encoder.tokenizer.tokenize("graphene graphene telephone")
    ids = sorted(set(encoder.tokenizer.convert_tokens_to_ids(tokens)))
    row = encoder.encode_queries(["graphene graphene telephone"])
    n = len(CORPUS)
    want = []
    for token_id in ids:
        df = sum(token_id in encoder.tokenizer(t, add_special_tokens=False)["input_ids"]
                 for t in CORPUS)
        want.append(math.log1p((n - df + 0.5) / (df + 0.5)))
    assert row.indices.tolist() == ids
    assert row.data.tolist() == pytest.approx(want, rel=1e-6)
    # A token in two of four documents ("graph") weighs less than one in a single document.
    weights = dict(encoder.decode(row)[0])
    assert weights["telephone"] > weights["graph"]


def test_documents_keep_the_source_models_vectors(built: Path, tiny_model_dir: Path) -> None:
    source = SpladeEncoder(tiny_model_dir)
    ours = SpladeEncoder(built)
    a = ours.encode_documents(CORPUS).toarray()
    b = source.encode_documents(CORPUS).toarray()
    assert np.abs(a - b).max() <= 1e-6


def test_sentence_transformers_loads_it_and_agrees(built: Path) -> None:
    from sentence_transformers import SparseEncoder

    st = SparseEncoder(str(built), device="cpu")
    ours = SpladeEncoder(built)
    for theirs, mine in (
        (st.encode_query(QUERIES, convert_to_tensor=True, convert_to_sparse_tensor=False),
         ours.encode_queries(QUERIES)),
        (st.encode_document(CORPUS, convert_to_tensor=True, convert_to_sparse_tensor=False),
         ours.encode_documents(CORPUS)),
    ):
        a, b = theirs.numpy(), mine.toarray()
        assert np.abs(a - b).max() <= 1e-5
        assert ((a != 0) == (b != 0)).all()


def test_inspect_names_the_family_and_both_routes(built: Path) -> None:
    spladekit = Path(sys.executable).parent / "spladekit"
    text = subprocess.run(
        [str(spladekit), "inspect", str(built)], capture_output=True, text=True, check=True
    ).stdout
    assert "inference-free" in text
    assert "route query: SparseStaticEmbedding" in text
    assert "route document: Transformer -> SpladePooling" in text
    data = json.loads(
        subprocess.run(
            [str(spladekit), "inspect", str(built), "--json"],
            capture_output=True, text=True, check=True,
        ).stdout
    )
    kinds = {r["side"]: r["kind"] for r in data["routes"]}
    assert kinds == {"query": "static", "document": "mlm"}
    assert data["vocabulary"] == 30522 and data["routes"][1]["backbone"] == "bert"


def test_description_of_a_plain_model_has_one_shared_route(tiny_model_dir: Path) -> None:
    description = SpladeEncoder(tiny_model_dir).description
    assert description.shared_route and len(description.routes) == 1
    (route,) = description.routes
    assert (route.kind, route.pooling, route.activation) == ("mlm", "max", "relu")
    assert description.layout == "huggingface"


def test_the_query_side_changes_the_model_identity(built: Path, tiny_model_dir: Path) -> None:
    assert (
        SpladeEncoder(built).model_identity.fingerprint
        != SpladeEncoder(tiny_model_dir).model_identity.fingerprint
    )


def test_an_empty_corpus_or_a_used_folder_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="corpus is empty"):
        build_inference_free(tiny_model_dir, [], tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("mine")
    with pytest.raises(InvalidArgumentError, match="not an empty folder"):
        build_inference_free(tiny_model_dir, CORPUS, tmp_path / "b")
    assert (tmp_path / "b" / "keep.txt").read_text() == "mine"
    with pytest.raises(InputTypeError, match="must be a list of str"):
        build_inference_free(tiny_model_dir, "one text", tmp_path / "c")


def test_eval_runs_inference_free_queries_against_model_documents(
    built: Path, tmp_path: Path, scifact_dir: Path
) -> None:
    from test_cli_milvus import run_cli, write_tiny_beir

    dataset = tmp_path / "tiny-scifact"
    write_tiny_beir(dataset, scifact_dir)
    code, out, err = run_cli(
        "eval", str(dataset), "--uri", str(tmp_path / "eval.db"), "--model", str(built),
        "--json", "-q",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["queries"] == 6 and report["spladekit"]["Recall@100"] == 1.0
    # Queries are lookups of their own tokens: no expansion to other vocabulary entries.
    encoder = SpladeEncoder(built)
    query = "Vitamin D and fractures"
    own = set(encoder.tokenizer(query, add_special_tokens=False)["input_ids"])
    assert set(encoder.encode_queries([query]).indices.tolist()) <= own


def test_onnx_export_keeps_the_router_and_runs_documents_on_onnx(
    built: Path, tmp_path: Path
) -> None:
    from spladekit import export_onnx

    out = export_onnx(built, tmp_path / "onnx", quantize="int8")
    assert not list(out.rglob("*.safetensors"))[1:]  # only the query weights stay as tensors
    exported = SpladeEncoder(out)
    backends = {r.side: r.backend for r in exported.description.routes}
    assert backends == {"query": "lookup", "document": "onnx"}
    torch_side = SpladeEncoder(built)
    a = exported.encode_documents(CORPUS).toarray()
    assert np.abs(a - torch_side.encode_documents(CORPUS).toarray()).max() <= 1e-4
    assert (exported.encode_queries(QUERIES) != torch_side.encode_queries(QUERIES)).nnz == 0
    assert exported.model_identity.fingerprint == torch_side.model_identity.fingerprint
    int8 = SpladeEncoder(out, precision="int8")
    assert int8.encode_documents(CORPUS).shape == (len(CORPUS), 30522)
    with pytest.raises(InvalidArgumentError, match="outside the model folder"):
        export_onnx(built, built / "onnx")
