"""Indexing and encoding on Ray Data: the same records and vectors as one process, in a server.

A real local Ray cluster (``ray_address``), the real Milvus server, splade-tiny.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from spladekit import (
    EncoderConfig,
    InvalidArgumentError,
    MissingDependencyError,
    RayOptions,
    SpladeEncoder,
    build_inference_free,
    encode_on_ray,
    index_on_ray,
)
from spladekit.cli import main
from spladekit.corpus import read_corpus
from spladekit.store.milvus import EMPTY_PLACEHOLDER_WEIGHT, MilvusStore


def scifact_rows(scifact_dir: Path, n: int, chars: int) -> list[dict[str, Any]]:
    rows = []
    with open(scifact_dir / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            row["text"] = row["text"][:chars]
            rows.append(row)
            if len(rows) == n:
                break
    return rows


def mixed_corpus(folder: Path, scifact_dir: Path) -> list[str]:
    """A BEIR folder, a JSON lines file with metadata, a plain text file with a blank line and a
    Parquet file: every input kind, about a hundred documents."""
    rows = scifact_rows(scifact_dir, 100, 160)
    beir = folder / "beir"
    beir.mkdir()
    (beir / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:40]))
    with open(folder / "docs.jsonl", "w", encoding="utf-8") as handle:
        for i, r in enumerate(rows[40:70]):
            meta = {"source": "scifact", "n": i} if i % 2 else None
            handle.write(json.dumps({"id": f"j{r['_id']}", "text": r["text"], "metadata": meta}))
            handle.write("\n")
    lines = [r["title"] for r in rows[70:85]]
    lines[3] = ""  # an empty text is a record too
    (folder / "notes.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = pa.Table.from_pylist(
        [{"id": f"p{r['_id']}", "title": r["title"], "text": r["text"]} for r in rows[85:]]
    )
    pq.write_table(table, folder / "docs.parquet", row_group_size=5)
    return [str(beir), str(folder / "docs.jsonl"), str(folder / "notes.txt"),
            str(folder / "docs.parquet")]


def as_dicts(vectors: Any) -> list[dict[int, float]]:
    return [dict(zip(r.indices.tolist(), r.data.tolist(), strict=True)) for r in vectors]


def assert_same_vector(got: dict[int, float], want: dict[int, float]) -> None:
    assert set(got) == set(want)
    diff = max((abs(got[i] - want[i]) for i in want), default=0.0)
    assert diff <= 1e-5, diff


def test_index_on_ray_stores_what_one_process_stores_and_a_rerun_encodes_nothing(
    tmp_path: Path, ray_address: str, milvus_server_uri: str, collection_name: str,
    tiny_model_dir: Path, tiny_encoder: SpladeEncoder, scifact_dir: Path,
) -> None:
    inputs = mixed_corpus(tmp_path, scifact_dir)
    records = list(read_corpus(inputs))  # what single-process spladekit index reads
    expected = as_dicts(tiny_encoder.encode_documents([r.text for r in records]))
    options = RayOptions(workers=2)
    seen: list[int] = []
    report = index_on_ray(
        inputs, uri=milvus_server_uri, collection=collection_name, model=tiny_model_dir,
        ray_options=options, batch_size=16, shard_bytes=2048, progress=seen.append, bm25=True,
    )
    n = len(records)
    empty = sum(1 for v in expected if not v)
    assert (report.seen, report.encoded, report.skipped, report.stored, report.failed) == (
        n, n, 0, n, 0,
    )
    assert report.empty == empty and report.workers == 2 and report.documents_per_second > 0
    assert sum(seen) == n  # progress reached the driver, batch by batch
    assert len(seen) > 1
    ids = [r.id for r in records]
    with MilvusStore(milvus_server_uri, collection=collection_name) as store:
        assert store.count() == n
        stored = {d.id: d for d in store.get(ids)}
        vectors = store.get_vectors(ids)
        assert store.recorded_model() == tiny_encoder.model_identity
        # Created with BM25: Milvus fills it from the texts the workers wrote.
        probe = next(r for r in records if len(r.text.split()) > 5)
        bm25_hits = store.search(None, 3, texts=[probe.text], mode="bm25")[0]
        assert bm25_hits and bm25_hits[0].id == probe.id
    for record, want in zip(records, expected, strict=True):
        doc = stored[record.id]
        assert (doc.text, doc.metadata, doc.empty) == (record.text, record.metadata, not want)
        assert_same_vector(vectors[record.id], want)
    # The plain-text ids carry their file (several files), JSON and Parquet ids their own.
    assert stored[f"{inputs[2]}:3"].text == "" and records[-1].id.startswith("p")

    again = index_on_ray(
        inputs, uri=milvus_server_uri, collection=collection_name, model=tiny_model_dir,
        ray_options=options, batch_size=16, shard_bytes=2048,
    )
    assert (again.seen, again.encoded, again.skipped, again.stored) == (n, 0, n, n)


def test_a_two_route_model_indexed_on_ray_is_recorded_as_its_encoder_reports_it(
    tmp_path: Path, ray_address: str, milvus_server_uri: str, collection_name: str,
    tiny_model_dir: Path,
) -> None:
    # An inference-free Router folder holds no weights at its root: the driver must take the
    # model's identity over both routes, as SpladeEncoder does, or the encoder of the same
    # folder is later refused by the collection as another model.
    texts = ["graphene conducts heat", "vitamin d and bone fractures", "solar panels", "", "x y"]
    folder = build_inference_free(tiny_model_dir, texts, tmp_path / "router")
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n"
                              for i, t in enumerate(texts)), encoding="utf-8")
    report = index_on_ray(
        [str(corpus)], uri=milvus_server_uri, collection=collection_name, model=folder,
        ray_options=RayOptions(workers=1), batch_size=4,
    )
    assert (report.seen, report.stored, report.failed) == (5, 5, 0)
    encoder = SpladeEncoder(folder)
    with MilvusStore(
        milvus_server_uri, collection=collection_name, model=encoder.model_identity
    ) as store:
        assert store.recorded_model() == encoder.model_identity
        hits = store.search(encoder.encode_queries(["graphene heat"]), 1)[0]
        assert hits[0].id == "d0"


def test_cli_encode_on_ray_writes_parquet_shards_of_the_in_process_vectors(
    tmp_path: Path, ray_address: str, tiny_model_dir: Path, tiny_encoder: SpladeEncoder,
    scifact_dir: Path,
) -> None:
    inputs = mixed_corpus(tmp_path, scifact_dir)
    out = tmp_path / "vectors"
    result = CliRunner().invoke(
        main,
        ["encode", *inputs, "--ray", ray_address, "--workers", "2", "-o", str(out),
         "--model", str(tiny_model_dir), "-q"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    records = list(read_corpus(inputs))
    assert summary["encoded"] == len(records) and summary["files"] >= 1
    table = pq.read_table(out)
    assert table.schema.names == ["id", "vector", "text", "metadata", "empty"]
    vector_type = table.schema.field("vector").type  # what Milvus bulk import reads
    assert [vector_type.field(i).name for i in range(2)] == ["indices", "values"]
    assert vector_type.field("indices").type.value_type == pa.uint32()
    assert vector_type.field("values").type.value_type == pa.float32()
    rows = {row["id"]: row for row in table.to_pylist()}
    assert len(rows) == len(records) == table.num_rows
    expected = as_dicts(tiny_encoder.encode_documents([r.text for r in records]))
    for record, want in zip(records, expected, strict=True):
        row = rows[record.id]
        assert (row["text"], json.loads(row["metadata"]), row["empty"]) == (
            record.text, record.metadata, not want,
        )
        got = dict(zip(row["vector"]["indices"], row["vector"]["values"], strict=True))
        # Milvus bulk import refuses an empty vector: the collection's placeholder stands in.
        assert_same_vector(got, want or {0: EMPTY_PLACEHOLDER_WEIGHT})
    # A folder that already holds files is refused: runs never mix.
    with pytest.raises(InvalidArgumentError, match="not an empty folder"):
        encode_on_ray(inputs, out, model=tiny_model_dir)


def test_actors_share_the_cpus_and_set_their_torch_threads(
    ray_address: str, tiny_model_dir: Path
) -> None:
    import ray

    from spladekit.distributed.encoding import EncodeBatch

    assert RayOptions(workers=2).worker_cpus(2.0) == 1.0
    assert RayOptions(workers=1).worker_cpus(2.0) == 2.0
    assert RayOptions(workers=4).worker_cpus(2.0) == 1.0  # at least one CPU each
    assert RayOptions(workers=2, gpus_per_worker=1).worker_cpus(16.0) == 1.0

    @ray.remote(num_cpus=1)
    def threads_in_actor(threads: int) -> int:
        import torch

        EncodeBatch(str(tiny_model_dir), EncoderConfig(), threads=threads)
        return int(torch.get_num_threads())

    assert ray.get(threads_in_actor.remote(1)) == 1


def test_a_lite_file_or_memory_is_refused_at_once(tmp_path: Path, tiny_model_dir: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("a text\n")
    for uri in (str(tmp_path / "local.db"), "memory://"):
        with pytest.raises(InvalidArgumentError, match="one process holds; give a Milvus server"):
            index_on_ray([str(corpus)], uri=uri, model=tiny_model_dir)
    result = CliRunner().invoke(
        main, ["index", str(corpus), "--uri", str(tmp_path / "x.db"), "--ray", "local"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: a Ray job writes from many processes")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "x.db").exists()


def test_ray_options_are_checked(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="'local', 'auto' or host:port"):
        RayOptions(address="somewhere")
    with pytest.raises(InvalidArgumentError, match="fp16' runs on CUDA only"):
        encode_on_ray(["x"], tmp_path / "o", config=EncoderConfig(precision="fp16"))
    result = CliRunner().invoke(main, ["index", "x.txt", "--workers", "2"])
    assert result.exit_code == 2 and "add --ray local" in result.stderr


def test_without_ray_the_error_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    corpus = tmp_path / "c.txt"
    corpus.write_text("a text\n")
    with pytest.raises(MissingDependencyError, match=r'pip install "spladekit\[ray\]"'):
        index_on_ray([str(corpus)], uri="http://127.0.0.1:9")
    result = CliRunner().invoke(
        main, ["index", str(corpus), "--uri", "http://127.0.0.1:9", "--ray", "local"]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        'error: distributed indexing needs Ray Data, which is not installed: '
        'pip install "spladekit[ray]"\n'
    )


def test_a_bad_line_fails_the_job_with_the_error_one_process_gives(
    tmp_path: Path, ray_address: str, milvus_server_uri: str, collection_name: str,
    tiny_model_dir: Path,
) -> None:
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"id": "a", "text": "fine"}\n\n{"id": "b", "text": broken\n')
    with pytest.raises(InvalidArgumentError) as one_process:
        list(read_corpus([str(corpus)]))
    with pytest.raises(InvalidArgumentError) as on_ray:
        index_on_ray(
            [str(corpus)], uri=milvus_server_uri, collection=collection_name,
            model=tiny_model_dir,
        )
    assert str(one_process.value).endswith("line 3: not valid JSON (Expecting value); use one "
                                           "JSON object per line, or read the file as plain text")
    assert str(on_ray.value) == str(one_process.value)  # no remote traceback, same words


def test_the_snapshot_of_stored_ids_holds_exactly_what_the_collection_held(
    milvus_server_uri: str, collection_name: str
) -> None:
    from spladekit.distributed.snapshot import StoredIds

    ids = [f"doc-{i}" for i in range(2500)]
    with MilvusStore(milvus_server_uri, collection=collection_name) as store:
        for start in range(0, len(ids), 1000):
            store.upsert(ids[start : start + 1000], [{7: 1.0}] * len(ids[start : start + 1000]))
        snapshot = StoredIds.from_store(store)
    assert len(snapshot) == len(ids)
    asked = ["doc-0", "doc-2499", "doc-2500", "doc-", "Doc-1", "doc-1249"]
    assert snapshot.contains(asked).tolist() == [True, True, False, False, False, True]
    assert StoredIds.of([]).contains(["doc-0"]).tolist() == [False]
