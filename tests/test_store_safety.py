"""Nothing lost, nothing destroyed: other tools' collections, odd ids, shared Lite stores, and
writes after a disk-full error, on Milvus Lite and on a real Milvus server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from spladekit import MilvusStore
from spladekit.errors import InvalidArgumentError, StoreError


def run_threads(work: Callable[[int], None], n: int) -> list[BaseException]:
    """Run ``work(0)`` .. ``work(n - 1)`` on ``n`` threads at once; what they raised."""
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # reported to the caller
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


ODD_IDS = ["O'Brien-2021", "rock'n'roll", 'say "hi"', "back\\slash", "x\\'y", "é中😀", "a'b\"c\\"]


def test_ids_with_quotes_and_backslashes_replace_and_delete(
    milvus_uri: str, collection_name: str
) -> None:
    with MilvusStore(milvus_uri, collection=collection_name) as store:
        store.upsert(ODD_IDS, [{1: 1.0}] * len(ODD_IDS), texts=["first"] * len(ODD_IDS))
        store.upsert(ODD_IDS, [{2: 1.0}] * len(ODD_IDS), texts=["second"] * len(ODD_IDS))
        assert store.count() == len(ODD_IDS)
        assert [d.text for d in store.get(ODD_IDS)] == ["second"] * len(ODD_IDS)
        assert [d.id for d in store.get(ODD_IDS)] == ODD_IDS
        assert store.existing_ids(ODD_IDS) == set(ODD_IDS)
        assert sorted(i for batch in store.iter_ids() for i in batch) == sorted(ODD_IDS)
        assert {h.id for h in store.search({2: 1.0}, k=20)[0]} == set(ODD_IDS)
        store.delete(ODD_IDS[:4])
        assert store.existing_ids(ODD_IDS) == set(ODD_IDS[4:])
        store.delete(ODD_IDS[4:])
        assert store.count() == 0


def test_four_threads_upserting_one_quoted_id_leave_one_row(
    milvus_uri: str, collection_name: str
) -> None:
    with MilvusStore(milvus_uri, collection=collection_name) as store:

        def write(n: int) -> None:
            for round_ in range(5):
                store.upsert(["O'Brien-2021"], [{n + 1: 1.0}], texts=[f"{n}-{round_}"])

        assert run_threads(write, 4) == []
        assert store.count() == 1
        assert len(store.get(["O'Brien-2021"])) == 1


def test_eight_threads_upserting_and_flushing_one_lite_store(tmp_path: Path) -> None:
    with MilvusStore(str(tmp_path / "shared.db"), collection="shared") as store:

        def work(n: int) -> None:
            for round_ in range(4):
                ids = [f"t{n}-{round_}-{i}" for i in range(20)]
                store.upsert(ids, [{i + 1: 1.0} for i in range(20)])
                store.flush()

        assert run_threads(work, 8) == []
        assert store.count() == 8 * 4 * 20


def test_metadata_nested_too_deep_is_named(tmp_path: Path) -> None:
    deep: dict[str, object] = {}
    inner = deep
    for _ in range(5000):
        inner["a"] = {}
        inner = inner["a"]  # type: ignore[assignment]
    with MilvusStore(str(tmp_path / "d.db")) as store:
        with pytest.raises(InvalidArgumentError, match="metadata at position 0 nests deeper"):
            store.upsert(["a"], [{1: 1.0}], metadata=[deep])
        assert store.count() == 0


# -- other tools' collections on a real server ----------------------------------------------


@contextmanager
def _client(uri: str) -> Iterator[Any]:
    """A pymilvus client of its own on ``uri`` (another tool's view), closed after."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri, dedicated=True)
    try:
        yield client
    finally:
        client.close()


def _foreign_collection(uri: str, name: str, with_index: bool, extra: bool = True) -> None:
    """Another tool's empty collection whose fields include spladekit's five names (and, with
    ``extra``, a field and dynamic fields of its own)."""
    from pymilvus import DataType

    with _client(uri) as client:
        schema = client.create_schema(
            auto_id=False, enable_dynamic_field=extra, description="another tool's collection"
        )
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("vector", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("text", DataType.VARCHAR, max_length=65535)
        schema.add_field("metadata", DataType.JSON)
        schema.add_field("empty", DataType.BOOL)
        if extra:
            schema.add_field("owner", DataType.VARCHAR, max_length=64)
        index = None
        if with_index:
            index = client.prepare_index_params()
            index.add_index(
                field_name="vector", index_type="SPARSE_INVERTED_INDEX", metric_type="IP"
            )
        client.create_collection(name, schema=schema, index_params=index)


def _describe(uri: str, name: str) -> dict[str, object]:
    with _client(uri) as client:
        described = client.describe_collection(name)
    return {
        "fields": sorted(f["name"] for f in described["fields"]),
        "dynamic": described.get("enable_dynamic_field"),
        "description": described.get("description"),
        "id": described.get("collection_id"),
    }


@pytest.mark.server
@pytest.mark.parametrize("with_index", [True, False], ids=["indexed", "no-index"])
def test_another_tools_empty_collection_survives_spladekit_index(
    milvus_server_uri: str, collection_name: str, tiny_model_dir: Path, tmp_path: Path,
    with_index: bool,
) -> None:
    _foreign_collection(milvus_server_uri, collection_name, with_index)
    before = _describe(milvus_server_uri, collection_name)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "d1", "text": "a document"}) + "\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "spladekit.cli", "index", "--model", str(tiny_model_dir),
         "--uri", milvus_server_uri, "--collection", collection_name, str(corpus)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode != 0
    assert "not created by spladekit" in proc.stderr
    assert _describe(milvus_server_uri, collection_name) == before
    assert "owner" in before["fields"]  # type: ignore[operator]


@pytest.mark.server
def test_a_collection_without_an_index_and_no_mark_is_refused_not_changed(
    milvus_server_uri: str, collection_name: str
) -> None:
    _foreign_collection(milvus_server_uri, collection_name, with_index=False, extra=False)
    before = _describe(milvus_server_uri, collection_name)
    with pytest.raises(StoreError, match="has no index on its 'vector' field"):
        MilvusStore(milvus_server_uri, collection=collection_name)
    assert _describe(milvus_server_uri, collection_name) == before


@pytest.mark.server
def test_concurrent_opens_of_one_new_collection_share_it(
    milvus_server_uri: str, collection_name: str, tiny_encoder: object
) -> None:
    model = tiny_encoder.model_identity  # type: ignore[attr-defined]

    def open_and_write(n: int) -> None:
        with MilvusStore(milvus_server_uri, collection=collection_name, model=model) as s:
            s.upsert([f"c{n}"], [{n + 1: 1.0}])

    assert run_threads(open_and_write, 4) == []
    with MilvusStore(milvus_server_uri, collection=collection_name) as store:
        assert store.count() == 4
        assert store.recorded_model() == model


# -- disk full on Milvus Lite ----------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 4 MiB tmpfs mounted for the test (needs root)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (to fill a disk without filling yours)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


_WRITER = r"""
import json, os, random, sys, time
from spladekit import MilvusStore
path, ballast, report = sys.argv[1:4]
random.seed(0)
acked = []
def save():
    with open(report + ".tmp", "w") as f:
        json.dump(acked, f)
    os.replace(report + ".tmp", report)
store = MilvusStore(path, collection="c")
def batch(tag):
    ids = [f"{tag}-{i}" for i in range(10)]
    return ids, [{random.randrange(1, 30000): 1.0 for _ in range(50)} for _ in ids]
failed = None
for b in range(10000):
    ids, vectors = batch(f"a{b}")
    try:
        store.upsert(ids, vectors, texts=["x" * 2000] * len(ids))
    except Exception as exc:
        failed = str(exc)
        break
    acked.extend(ids)
    save()
os.unlink(ballast)  # free the space again
after = []
for b in range(2):
    ids, vectors = batch(f"b{b}")
    try:
        store.upsert(ids, vectors, texts=["y"] * len(ids))
        acked.extend(ids)
    except Exception as exc:
        after.append(str(exc))
save()
with open(report + ".status", "w") as f:
    json.dump({"failed": failed, "after": after}, f)
time.sleep(600)  # killed here
"""


def test_a_disk_full_error_loses_nothing_acknowledged(small_disk: Path, tmp_path: Path) -> None:
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * (1 << 20))  # freed after the disk fills
    report = tmp_path / "acked.json"
    path = small_disk / "full.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), str(ballast), str(report)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    status = Path(str(report) + ".status")
    try:
        for _ in range(600):
            if status.exists() or proc.poll() is not None:
                break
            threading.Event().wait(0.5)
        assert status.exists(), proc.stderr.read().decode() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    outcome = json.loads(status.read_text())
    assert "No space left" in outcome["failed"]
    # After the error the store refuses writes, saying how to recover, instead of
    # acknowledging writes that the damaged log would lose.
    assert outcome["after"] and all("close" in a and "again" in a for a in outcome["after"])
    acked = json.loads(report.read_text())
    assert acked
    with MilvusStore(str(path), collection="c") as store:
        assert store.existing_ids(acked) == set(acked)
        # Reopened, it writes again, and those writes survive a reopen too.
        store.upsert(["later"], [{1: 1.0}])
    with MilvusStore(str(path), collection="c") as store:
        assert store.existing_ids([*acked, "later"]) == {*acked, "later"}


@pytest.mark.server
def test_a_model_that_cannot_be_recorded_is_said_not_dropped(
    milvus_server_uri: str, collection_name: str, tiny_encoder: object
) -> None:
    # The Milvus 2.5 server cannot alter properties: the record cannot be added later.
    MilvusStore(milvus_server_uri, collection=collection_name).close()
    before = _describe(milvus_server_uri, collection_name)
    model = tiny_encoder.model_identity  # type: ignore[attr-defined]
    with pytest.warns(UserWarning, match="going on without a record"):
        store = MilvusStore(milvus_server_uri, collection=collection_name, model=model)
    with store:
        store.upsert(["kept"], [{1: 1.0}])
        assert store.count() == 1
    assert _describe(milvus_server_uri, collection_name) == before  # the same collection


def test_checking_a_model_only_reads_and_recording_is_its_own_step(tmp_path: Path) -> None:
    from spladekit import ModelIdentity, ModelMismatchError

    uri, first, other = str(tmp_path / "m.db"), ModelIdentity("a", "111"), ModelIdentity("b", "222")
    with MilvusStore(uri, collection="c") as store:  # created without a model
        store.check_model(first)
        assert store.recorded_model() is None  # a check writes nothing
        store.record_model(first)
        assert store.recorded_model() == first
        store.record_model(other)  # a record stays
        assert store.recorded_model() == first
        with pytest.raises(ModelMismatchError, match="was built with model"):
            store.check_model(other)
        store.check_model(other, allow_other=True)
        assert store.recorded_model() == first
    # Opening with a model both checks and records, as before.
    with MilvusStore(uri, collection="d", model=other) as store:
        assert store.recorded_model() == other
