"""Every bad input gets a SpladeError that names the problem, what was got and what to do.

Walks the categories: types, empty, blank, huge, encodings, surrogates, control characters,
paths that are files, unwritable or corrupt stores, wrong models, concurrency. Value problems
are also ValueErrors and type problems also TypeErrors; through the CLI every one is one line
on stderr and a non-zero exit, with no traceback and no library logs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spladekit import (
    InputTypeError,
    InvalidArgumentError,
    MemoryStore,
    ModelMismatchError,
    ModelNotAvailableError,
    Retriever,
    SpladeEmbeddingFunction,
    SpladeEncoder,
    SpladeError,
    StoreError,
    UnsupportedModelError,
)
from spladekit.store.milvus import MilvusStore

SURROGATE = "caf\ud800"


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """The real command in a fresh process: what a user's terminal shows."""
    return subprocess.run(
        [sys.executable, "-m", "spladekit.cli", *args], input=stdin, capture_output=True,
        timeout=300, check=False,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[bytes], fragment: str) -> None:
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode != 0, err
    assert err.startswith("error: "), err
    assert len(err.strip().splitlines()) == 1, err  # no traceback, no library logs
    assert fragment in err, err


@pytest.fixture(scope="module")
def encoder(tiny_model_dir: Path) -> SpladeEncoder:
    return SpladeEncoder(tiny_model_dir)


@pytest.fixture(scope="module")
def other_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """splade-tiny with slightly different weights: same vocabulary, another checkpoint."""
    import torch
    from safetensors.torch import load_file, save_file

    folder = tmp_path_factory.mktemp("models") / "splade-tiny-other"
    shutil.copytree(tiny_model_dir, folder)
    weights = load_file(str(folder / "model.safetensors"))
    generator = torch.Generator().manual_seed(0)
    changed = {
        k: (v + 1e-3 * torch.randn(v.shape, generator=generator) if v.is_floating_point() else v)
        for k, v in weights.items()
    }
    save_file(changed, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


# -- types ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("texts", "fragment"),
    [
        ("a single string", "got a single str; wrap it: [text]"),
        (b"bytes", "got a single bytes"),
        (123, "must be a list of str, got int"),
        (None, "must be a list of str, got NoneType"),
        (["ok", 7], "got int at position 1"),
        (["ok", None], "got NoneType at position 1"),
    ],
)
def test_texts_of_the_wrong_type_are_named(
    encoder: SpladeEncoder, texts: object, fragment: str
) -> None:
    with pytest.raises(InputTypeError, match=re.escape(fragment)) as info:
        encoder.encode(texts)  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"k_tokens_query": 0}, InvalidArgumentError, "k_tokens_query must be a positive"),
        ({"k_tokens_document": -3}, InvalidArgumentError, "got -3"),
        ({"k_tokens_query": "5"}, InputTypeError, "got str"),
        ({"k_tokens_query": True}, InputTypeError, "got bool"),
        ({"batch_size": 0}, InvalidArgumentError, "batch_size must be a positive integer"),
        ({"batch_size": 2.5}, InputTypeError, "got float"),
        ({"query_instruction": 5}, InputTypeError, "query_instruction must be a str"),
        ({"device": 0}, InputTypeError, "device must be a str"),
        ({"threshold": float("nan")}, InvalidArgumentError, "threshold must be a number >= 0"),
        ({"query_max_length": 2}, InvalidArgumentError, "at least 3"),
        ({"no_such_option": 1}, InvalidArgumentError, "unsupported model loading argument"),
    ],
)
def test_constructor_arguments_value_and_type_errors_are_told_apart(
    tiny_model_dir: Path, kwargs: dict[str, object], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment) as info:
        SpladeEmbeddingFunction(str(tiny_model_dir), **kwargs)  # type: ignore[arg-type]
    expected_builtin = TypeError if error is InputTypeError else ValueError
    assert isinstance(info.value, expected_builtin) and isinstance(info.value, SpladeError)


def test_encode_options_are_checked(encoder: SpladeEncoder) -> None:
    with pytest.raises(InvalidArgumentError, match="top_k must be a positive integer"):
        encoder.encode(["x"], top_k=0)
    with pytest.raises(InputTypeError, match="top_k must be a positive integer or None"):
        encoder.encode(["x"], top_k="3")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="truncation must be one of right, left"):
        encoder.encode(["x"], truncation="middle")  # type: ignore[arg-type]
    with pytest.raises(InputTypeError, match="prefix must be a str"):
        encoder.encode(["x"], prefix=None)  # type: ignore[arg-type]
    with pytest.raises(InputTypeError, match="scipy sparse matrix"):
        encoder.decode([[1.0, 2.0]])


def test_store_arguments_are_checked(tmp_path: Path) -> None:
    with MilvusStore(str(tmp_path / "s.db")) as store:
        with pytest.raises(InputTypeError, match="k must be an int from 1 to 16384, got str"):
            store.search({1: 1.0}, k="10")  # type: ignore[arg-type]
        with pytest.raises(InputTypeError, match="unknown search option"):
            store.search({1: 1.0}, fliter="x")
        with pytest.raises(InputTypeError, match="filter must be a str"):
            store.search({1: 1.0}, filter=3)
        with pytest.raises(InputTypeError, match="metadata at position 0 must be a dict"):
            store.upsert(["a"], [{1: 1.0}], ["t"], ["not a dict"])  # type: ignore[list-item]
        with pytest.raises(InvalidArgumentError, match="not JSON-serialisable"):
            store.upsert(["a"], [{1: 1.0}], ["t"], [{"x": object()}])
        assert store.count() == 0


# -- empty and blank ------------------------------------------------------------------------


def test_nothing_to_encode_gives_an_empty_matrix(encoder: SpladeEncoder) -> None:
    assert encoder.encode([]).shape == (0, encoder.dim)


@pytest.mark.parametrize("query", ["", "   ", "\n\t "])
def test_empty_or_blank_queries_are_refused(
    encoder: SpladeEncoder, query: str, tmp_path: Path
) -> None:
    retriever = Retriever(encoder, MemoryStore())
    with pytest.raises(InvalidArgumentError, match=r"query is (empty|blank)") as info:
        retriever.search(query)
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidArgumentError, match="query 1 is"):
        retriever.search_many(["fine", query])


def test_the_cli_refuses_a_blank_search(tiny_model_dir: Path, tmp_path: Path) -> None:
    uri = str(tmp_path / "blank.db")
    with MilvusStore(uri, collection="docs") as store:
        store.upsert(["a"], [{1: 1.0}])
    model = str(tiny_model_dir)
    proc = run_cli("search", " ", "--uri", uri, "--collection", "docs", "--model", model)
    assert_one_line_error(proc, "query is blank")
    assert proc.stdout == b""


def test_blank_documents_are_kept_not_dropped(encoder: SpladeEncoder) -> None:
    store = MemoryStore()
    report = Retriever(encoder, store).index([("blank", "   "), ("empty", ""), ("a", "graphene")])
    assert report.encoded == 3 and store.count() == 3


# -- huge -----------------------------------------------------------------------------------------


class _Seen:
    """A tokenizer that records the length of every text it is given, then tokenises it."""

    def __init__(self, inner: Any, lengths: list[int]) -> None:
        self._inner, self._lengths = inner, lengths

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def encode(self, text: str, *args: Any, **kwargs: Any) -> Any:
        self._lengths.append(len(text))
        return self._inner.encode(text, *args, **kwargs)


def test_a_huge_text_is_cut_before_tokenising_and_says_so(
    encoder: SpladeEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    huge = "graphene conducts heat " * 400_000  # ~9 MB of text
    tokens = encoder.routes["document"].tokens
    lengths: list[int] = []
    batch = tokens._encode_batch
    monkeypatch.setattr(tokens, "_fast", _Seen(tokens._fast, lengths))
    monkeypatch.setattr(
        tokens, "_encode_batch",
        lambda texts, **kw: (lengths.extend(len(t) for t in texts), batch(texts, **kw))[1],
    )
    result = encoder.encode_with_stats([huge, "short"])
    # The tokenizer saw a prefix of the huge text, never the 9 MB (the cost of a huge text is
    # bounded by the limit, not by its size).
    assert lengths and max(lengths) < len(huge) // 100, lengths
    monkeypatch.undo()
    assert result.stats.truncated == 1 and result.stats.tokens <= 512 + 3
    prefix = " ".join(huge.split()[:600])
    np.testing.assert_allclose(
        result.vectors.row(0).toarray(), encoder.encode([prefix]).toarray(), atol=1e-5
    )


def test_too_many_hits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="k must be an int from 1 to 16384"):
        MemoryStore().search({1: 1.0}, k=100_000)


def test_a_text_over_the_limit_can_be_refused_instead_of_cut(encoder: SpladeEncoder) -> None:
    with pytest.raises(InvalidArgumentError, match=r"text at position 1 has \d+ tokens, more than"):
        encoder.encode(["short", "word " * 600], truncation="error")
    text = "the cell membrane regulates transport of ions. " * 80 + "volcano telescope"
    volcano = encoder.tokenizer.convert_tokens_to_ids("volcano")
    left = encoder.encode([text], truncation="left")
    right = encoder.encode([text], truncation="right")
    assert left.toarray()[0, volcano] > 0.5 and right.toarray()[0, volcano] == 0  # the end kept


# -- encodings and surrogates -----------------------------------------------------------------


def test_a_lone_surrogate_in_a_text_is_named(encoder: SpladeEncoder) -> None:
    with pytest.raises(InvalidArgumentError, match=r"texts\[1\] contains a lone surrogate") as info:
        encoder.encode(["fine", SURROGATE])
    assert "at character 3" in str(info.value) and "errors='replace'" in str(info.value)


def test_a_lone_surrogate_in_a_stored_text_id_or_filter_is_named(tmp_path: Path) -> None:
    with MilvusStore(str(tmp_path / "u.db")) as store:
        with pytest.raises(InvalidArgumentError, match=r"texts\[0\] contains a lone surrogate"):
            store.upsert(["a"], [{1: 1.0}], [SURROGATE])
        with pytest.raises(InvalidArgumentError, match=r"ids\[0\] contains a lone surrogate"):
            store.upsert([SURROGATE], [{1: 1.0}])
        with pytest.raises(InvalidArgumentError, match="filter contains a lone surrogate"):
            store.search({1: 1.0}, filter=f'text == "{SURROGATE}"')
        assert store.count() == 0


def test_indexing_names_the_record_with_a_surrogate(encoder: SpladeEncoder) -> None:
    store = MemoryStore()
    with pytest.raises(InvalidArgumentError, match=r"record 1 \(id 'b'\) text contains"):
        Retriever(encoder, store).index([("a", "ok"), ("b", SURROGATE)])


def test_the_cli_names_a_surrogate_in_an_argument(tiny_model_dir: Path) -> None:
    # A byte that is not UTF-8 reaches Python as a lone surrogate (surrogateescape).
    proc = subprocess.run(
        [sys.executable, "-m", "spladekit.cli", "encode", "--model", str(tiny_model_dir),
         b"caf\xe9".decode("utf-8", "surrogateescape")],
        capture_output=True, timeout=300, check=False,
    )
    assert_one_line_error(proc, "lone surrogate")


@pytest.mark.parametrize("command", ["encode", "index"])
def test_a_file_that_is_not_utf8_is_one_line(
    command: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("first line\ncaf\u00e9 au lait\n".encode("latin-1"))
    store = ["--uri", str(tmp_path / "x.db")]
    args = ["-i", str(latin1)] if command == "encode" else [str(latin1), *store]
    proc = run_cli(command, *args, "--model", str(tiny_model_dir), "-q")
    assert_one_line_error(proc, "is not UTF-8 text: byte 0xe9 cannot be decoded")


def test_a_json_lines_file_with_a_byte_order_mark_is_read_as_json(run_encode_lines) -> None:  # type: ignore[no-untyped-def]
    jsonl = b'{"id": "d1", "text": "graphene"}\n{"id": "d2", "text": "x"}\n'
    rows = run_encode_lines(b"\xef\xbb\xbf" + jsonl)
    assert [r["id"] for r in rows] == ["d1", "d2"]


def test_a_surrogate_escape_in_json_names_the_line(tmp_path: Path) -> None:
    from spladekit.corpus import read_records

    lines = ['{"id": "a", "text": "ok"}', '{"id": "b", "text": "caf\\ud800"}']
    with pytest.raises(InvalidArgumentError, match="input line 2 text contains a lone surrogate"):
        list(read_records(lines))


@pytest.fixture
def run_encode_lines(tiny_model_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    def run(data: bytes) -> list[dict[str, object]]:
        path = tmp_path / "input.jsonl"
        path.write_bytes(data)
        proc = run_cli("encode", "--model", str(tiny_model_dir), "-i", str(path), "-q")
        assert proc.returncode == 0, proc.stderr
        return [json.loads(line) for line in proc.stdout.decode().splitlines()]

    return run


# -- control characters -----------------------------------------------------------------------


def test_control_characters_are_text_but_not_ids(encoder: SpladeEncoder) -> None:
    vectors = encoder.encode(["graphene\x00conducts\x07heat\x1b"])
    assert vectors.nnz > 0
    with pytest.raises(InvalidArgumentError, match="contains control characters"):
        MemoryStore().upsert(["bad\x00id"], [{1: 1.0}])


# -- paths that are files, unwritable and corrupt stores --------------------------------------


def test_a_model_path_that_is_a_file_is_named(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "model.bin"
    not_a_folder.write_bytes(b"\x00" * 10)
    with pytest.raises(ModelNotAvailableError, match="no model folder at"):
        SpladeEncoder(str(not_a_folder))


def test_a_store_path_that_is_a_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database")
    with pytest.raises(StoreError, match="is a file, not a Milvus Lite 3 folder"):
        MilvusStore(str(path))
    assert path.read_text() == "not a database"


def test_a_store_in_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"the folder .* does not exist"):
        MilvusStore(str(tmp_path / "no" / "such" / "dir" / "x.db"))


def test_an_input_path_that_is_a_folder_is_one_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    proc = run_cli("encode", "--model", str(tiny_model_dir), "-i", str(tmp_path))
    assert_one_line_error(proc, "Is a directory")


def run_unprivileged(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh Python that drops to an unprivileged user after its imports
    where we are root (root ignores file permissions), so permission errors are real."""
    prelude = (
        "import os, sys\nfrom spladekit import StoreError\n"
        "from spladekit.store.milvus import MilvusStore\n"
        "import pymilvus, milvus_lite.server_manager\n"
        "if os.geteuid() == 0:\n    os.setuid(65534)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120,
        check=False,
    )


def test_an_unwritable_or_unreachable_store_folder_is_named(tmp_path: Path) -> None:
    import tempfile

    shared = Path(tempfile.mkdtemp(prefix="spladekit-perm-"))
    try:
        shared.chmod(0o755)
        readonly = shared / "readonly"
        readonly.mkdir(mode=0o555)
        attempt = (
            "try:\n    MilvusStore({!r})\n"
            "except StoreError as exc:\n    print(exc)\n    sys.exit(3)\n"
        )
        proc = run_unprivileged(attempt.format(str(readonly / "x.db")))
        assert proc.returncode == 3, proc.stderr
        assert "no permission to write in" in proc.stdout
        # tmp_path's parents are private to root: the path cannot even be looked at.
        proc = run_unprivileged(attempt.format(str(tmp_path / "x.db")))
        assert proc.returncode == 3, proc.stderr
        assert "cannot access the Milvus Lite file" in proc.stdout
    finally:
        shutil.rmtree(shared, ignore_errors=True)


@pytest.fixture
def lite_with_data(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    uri = str(tmp_path / "data.db")
    with MilvusStore(uri, collection="docs") as store:
        store.upsert([f"d{i}" for i in range(5)], [{i + 1: 1.0} for i in range(5)])
        store.flush()
    folder = Path(uri) / "collections" / "docs"
    yield uri, folder


def test_a_corrupt_manifest_is_refused_and_no_data_is_deleted(
    lite_with_data: tuple[str, Path], tiny_model_dir: Path
) -> None:
    tiny = tiny_model_dir
    uri, folder = lite_with_data
    data_files = sorted((folder / "partitions").rglob("*.parquet"))
    assert data_files
    (folder / "manifest.json").write_text('{"active_wal')  # a save cut short
    with pytest.raises(StoreError, match=r"is damaged: collection 'docs' has a corrupt manifest"):
        MilvusStore(uri, collection="docs")
    assert sorted((folder / "partitions").rglob("*.parquet")) == data_files  # nothing removed
    proc = run_cli("search", "x", "--uri", uri, "--collection", "docs", "--model", str(tiny))
    assert_one_line_error(proc, "is damaged")


def test_a_missing_manifest_or_a_broken_data_file_is_refused(
    lite_with_data: tuple[str, Path]
) -> None:
    uri, folder = lite_with_data
    [data] = sorted((folder / "partitions").rglob("*.parquet"))
    original = data.read_bytes()
    data.write_bytes(b"garbage")
    with pytest.raises(StoreError, match="not Parquet"):
        MilvusStore(uri, collection="docs")
    data.write_bytes(original)
    (folder / "manifest.json").unlink()
    (folder / "manifest.json.prev").unlink(missing_ok=True)
    with pytest.raises(StoreError, match=r"has data files but no manifest\.json"):
        MilvusStore(uri, collection="docs")
    assert data.read_bytes() == original


def test_a_malformed_filter_is_one_line_without_library_logs(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    uri = str(tmp_path / "f.db")
    with MilvusStore(uri, collection="docs") as store:
        store.upsert(["a"], [{1: 1.0}])
    proc = run_cli(
        "search", "graphene", "--uri", uri, "--collection", "docs", "--model",
        str(tiny_model_dir), "--filter", "metadata[",
    )
    assert_one_line_error(proc, "Milvus search failed")


# -- wrong models -----------------------------------------------------------------------------


def test_a_checkpoint_without_its_masked_lm_head_is_refused(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from transformers import BertModel

    headless = tmp_path / "bert-without-head"
    BertModel.from_pretrained(str(tiny_model_dir)).save_pretrained(str(headless))
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        if (tiny_model_dir / name).exists():
            shutil.copy(tiny_model_dir / name, headless / name)
    with pytest.raises(UnsupportedModelError, match="has no masked-LM head") as info:
        SpladeEncoder(headless)
    assert "BertModel rather than BertForMaskedLM" in str(info.value)


def test_a_model_of_another_architecture_is_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "gpt"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "gpt2"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedModelError, match="is a 'gpt2' model"):
        SpladeEncoder(folder)


def test_a_folder_without_weights_is_named(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "no-weights"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        if (tiny_model_dir / name).exists():
            shutil.copy(tiny_model_dir / name, folder / name)
    with pytest.raises(ModelNotAvailableError, match="could not load weights"):
        SpladeEncoder(folder)


@pytest.mark.parametrize("uri_kind", ["lite", pytest.param("server", marks=pytest.mark.server)])
def test_a_collection_refuses_another_models_vectors(
    uri_kind: str,
    tmp_path: Path,
    encoder: SpladeEncoder,
    other_model_dir: Path,
    collection_name: str,
    request: pytest.FixtureRequest,
) -> None:
    uri = str(tmp_path / "m.db") if uri_kind == "lite" else request.getfixturevalue(
        "milvus_server_uri"
    )
    # The Milvus 2.5 server cannot alter a collection's properties, and spladekit no longer
    # drops and re-creates a collection to record its model: there the record is made when
    # the collection is created.
    model = encoder.model_identity if uri_kind == "server" else None
    with MilvusStore(uri, collection=collection_name, model=model) as store:
        Retriever(encoder, store).index([("a", "graphene conducts heat")])
    other = SpladeEncoder(other_model_dir)
    assert other.model_identity.fingerprint != encoder.model_identity.fingerprint
    with MilvusStore(uri, collection=collection_name) as store:
        with pytest.raises(ModelMismatchError) as info:
            Retriever(other, store)
        message = str(info.value)
        assert encoder.model_identity.fingerprint in message
        assert other.model_identity.fingerprint in message and "splade-tiny-other" in message
        # The explicit override mixes them anyway.
        assert Retriever(other, store, allow_other_model=True).search("graphene")
    with MilvusStore(uri, collection=collection_name, model=encoder.model_identity) as store:
        assert store.recorded_model() == encoder.model_identity
        store.drop()


def test_the_cli_refuses_another_model_in_one_line(
    tiny_model_dir: Path, other_model_dir: Path, tmp_path: Path
) -> None:
    uri = str(tmp_path / "cli.db")
    corpus = tmp_path / "c.txt"
    corpus.write_text("graphene conducts heat\nmitochondria make ATP\n")
    first = run_cli("index", str(corpus), "--uri", uri, "--model", str(tiny_model_dir), "-q")
    assert first.returncode == 0, first.stderr
    proc = run_cli("search", "graphene", "--uri", uri, "--model", str(other_model_dir))
    assert_one_line_error(proc, "--allow-other-model")
    again = run_cli(
        "search", "graphene", "--uri", uri, "--model", str(other_model_dir), "--allow-other-model"
    )
    assert again.returncode == 0 and b'"rank": 1' in again.stdout


def test_dtype_is_honoured_or_refused(tiny_model_dir: Path) -> None:
    import torch

    from spladekit.backends.cpu import cpu_has_bf16

    assert SpladeEncoder(tiny_model_dir, dtype=torch.float32).precision == "fp32"
    with pytest.raises(InvalidArgumentError, match="fp16' runs on CUDA only"):
        SpladeEncoder(tiny_model_dir, torch_dtype=torch.float16)
    with pytest.raises(InvalidArgumentError, match=r"dtype must be torch\.float32"):
        SpladeEncoder(tiny_model_dir, dtype="int4")
    with pytest.raises(InvalidArgumentError, match="disagree"):
        SpladeEncoder(tiny_model_dir, dtype=torch.bfloat16, precision="fp16")
    if cpu_has_bf16():
        assert SpladeEncoder(tiny_model_dir, dtype="bfloat16").precision == "bf16"
    else:
        with pytest.raises(InvalidArgumentError, match="needs AVX512-BF16 or AMX"):
            SpladeEncoder(tiny_model_dir, dtype=torch.bfloat16)


# -- concurrency --------------------------------------------------------------------------------


def test_two_retrievers_indexing_one_memory_store_lose_nothing(encoder: SpladeEncoder) -> None:
    import threading

    store = MemoryStore()
    records = [(f"d{i}", f"document number {i} about cells") for i in range(40)]

    def index(part: list[tuple[str, str]]) -> None:
        Retriever(encoder, store).index(part, chunk_size=7)

    threads = [threading.Thread(target=index, args=(records[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 40
    assert store.existing_ids([r[0] for r in records]) == {r[0] for r in records}
