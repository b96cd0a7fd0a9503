"""Faults in a Ray indexing job: nothing lost, nothing doubled.

A Ray worker SIGKILLed mid-job (Ray restarts the actor and runs its batch again), the driver
SIGKILLed mid-job (the same command run again finishes the job), and a Milvus server that stops
answering for a while (the datasink retries with backoff) or for good (it counts the documents
it could not store). Real processes throughout: the session's Ray cluster, the real Milvus
server, splade-tiny.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from scipy.sparse import csr_array, vstack

from spladekit import RayOptions, SpladeEncoder, StoreError, index_on_ray
from spladekit.distributed.blocks import encoded_table
from spladekit.distributed.retry import RetryingStore, RetryPolicy
from spladekit.distributed.sink import MilvusDatasink
from spladekit.store.config import StoreConfig
from spladekit.store.milvus import MilvusStore
from support.milvus_server import MilvusServer

ENCODER_PROCESS = "MapBatches(EncodeBatch)"  # in the title Ray gives an encoder actor's process


def long_corpus(folder: Path, scifact_dir: Path, n: int) -> tuple[Path, dict[str, str]]:
    """``n`` whole SciFact documents (a few hundred tokens each: a job of several seconds)."""
    texts: dict[str, str] = {}
    with open(scifact_dir / "corpus.jsonl", encoding="utf-8") as source:
        for line in source:
            row = json.loads(line)
            texts[str(row["_id"])] = f"{row['title']} {row['text']}"
            if len(texts) == n:
                break
    path = folder / "corpus.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in texts.items()))
    return path, texts


def assert_stored_once(uri: str, collection: str, texts: dict[str, str]) -> None:
    with MilvusStore(uri, collection=collection) as store:
        # count(*) counts rows: equal to the number of distinct ids, all present, means every
        # document is stored exactly once.
        assert store.count() == len(texts)
        assert store.existing_ids(list(texts)) == set(texts)
        assert {d.id: d.text for d in store.get(list(texts))} == texts


def title(process: psutil.Process) -> str:
    """A process's command line ("" once it has exited)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def encoder_processes() -> list[psutil.Process]:
    """Encoder actors of this test session's Ray cluster (started by this process)."""
    return [p for p in psutil.Process().children(recursive=True) if ENCODER_PROCESS in title(p)]


def test_a_worker_killed_mid_job_is_replaced_and_every_document_is_stored_once(
    tmp_path: Path, ray_address: str, milvus_server_uri: str, collection_name: str,
    tiny_model_dir: Path, scifact_dir: Path,
) -> None:
    corpus, texts = long_corpus(tmp_path, scifact_dir, 160)
    done: list[int] = []
    killed: list[tuple[int, int]] = []  # (pid, documents done when it was killed)

    def kill_an_encoder() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            victims = encoder_processes()
            if sum(done) >= 32 and victims:
                killed.append((victims[0].pid, sum(done)))
                victims[0].send_signal(signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_an_encoder)
    killer.start()
    report = index_on_ray(
        [str(corpus)], uri=milvus_server_uri, collection=collection_name, model=tiny_model_dir,
        ray_options=RayOptions(workers=2), batch_size=16, progress=done.append,
    )
    killer.join()
    assert killed, "no encoder was killed"
    pid, done_then = killed[0]
    assert done_then < len(texts), "the job had finished before the kill"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert (report.stored, report.failed) == (len(texts), 0)
    assert report.encoded + report.skipped == report.seen >= len(texts)
    assert_stored_once(milvus_server_uri, collection_name, texts)


PROGRESS = re.compile(r"(\d+)/(\d+) \[")


def session_processes(session: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session:
                found.append(process)
        except (OSError, psutil.Error):
            continue
    return found


@pytest.fixture
def stop_session() -> Iterator[list[int]]:
    """Sessions started by a test; whatever is left of them is killed at the end."""
    sessions: list[int] = []
    yield sessions
    for session in sessions:
        for process in session_processes(session):
            with contextlib.suppress(psutil.Error):
                process.kill()


def test_a_killed_driver_loses_nothing_and_the_same_command_finishes_the_job(
    tmp_path: Path, milvus_server_uri: str, collection_name: str, tiny_model_dir: Path,
    scifact_dir: Path, stop_session: list[int], ray_address: str,
) -> None:
    corpus, texts = long_corpus(tmp_path, scifact_dir, 160)
    command = [
        sys.executable, "-m", "spladekit.cli", "index", str(corpus), "--uri", milvus_server_uri,
        "--collection", collection_name, "--model", str(tiny_model_dir), "--chunk-size", "16",
        "--ray", "local", "--workers", "2",
    ]
    stderr = tmp_path / "stderr.txt"
    with open(stderr, "wb") as err:
        # Its own session: the command and the Ray cluster it starts, to clean up after.
        driver = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
    stop_session.append(driver.pid)
    stored = 0
    deadline = time.monotonic() + 240
    while stored == 0 and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.2)
        try:
            with MilvusStore(milvus_server_uri, collection=collection_name, create=False) as s:
                stored = s.count()
        except StoreError:
            continue  # the driver has not created the collection yet
    assert stored > 0 and driver.poll() is None, "the job ended or stalled before the kill"
    driver.send_signal(signal.SIGKILL)  # the driver only: its Ray cluster goes down with it
    driver.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(
        ENCODER_PROCESS in title(p) for p in session_processes(driver.pid)
    ):
        time.sleep(0.2)
    with MilvusStore(milvus_server_uri, collection=collection_name) as store:
        stored_after_kill = store.count()
    assert 0 < stored_after_kill < len(texts)
    shown = [int(m.group(1)) for m in PROGRESS.finditer(stderr.read_text(errors="replace"))]
    assert shown and max(shown) > 0  # progress on stderr while it ran

    # Run again, this time joining the session's running cluster (--ray auto, RAY_ADDRESS).
    rerun = subprocess.Popen(
        [*command[: command.index("--ray")], "--ray", "auto", "--workers", "2", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "RAY_ADDRESS": ray_address},
    )
    stop_session.append(rerun.pid)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    summary: dict[str, Any] = json.loads(out)
    assert summary["skipped"] >= stored_after_kill  # stored before: never encoded again
    assert summary["encoded"] == len(texts) - summary["skipped"] > 0
    assert (summary["stored"], summary["failed"]) == (len(texts), 0)
    assert_stored_once(milvus_server_uri, collection_name, texts)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[MilvusServer]:
    """A Milvus server of this test's own, to pause and resume."""
    server = MilvusServer(tmp_path / "server")
    server.start()
    yield server
    assert server._process is not None
    server._process.send_signal(signal.SIGCONT)
    server.stop()


def paused(server: MilvusServer, seconds: float | None) -> threading.Timer | None:
    """SIGSTOP the server; SIGCONT it after ``seconds`` (None: leave it to the caller)."""
    assert server._process is not None
    server._process.send_signal(signal.SIGSTOP)
    if seconds is None:
        return None
    timer = threading.Timer(seconds, server._process.send_signal, args=(signal.SIGCONT,))
    timer.start()
    return timer


def encoded_rows(encoder: SpladeEncoder, prefix: str, n: int) -> Any:
    texts = [f"{prefix} document {i} about proteins and cells" for i in range(n)]
    vectors = vstack([encoder.encode_documents(texts), csr_array((1, encoder.dim))]).tocsr()
    ids = [f"{prefix}{i}" for i in range(n + 1)]
    return encoded_table(ids, [*texts, ""], ["{}"] * (n + 1), vectors)


def test_the_sink_retries_a_paused_server_and_counts_what_a_gone_one_did_not_take(
    own_server: MilvusServer, tiny_encoder: SpladeEncoder
) -> None:
    spec = StoreConfig(own_server.uri, "sink", timeout=0.5)
    with MilvusStore(own_server.uri, collection="sink"):
        pass
    sink = MilvusDatasink(spec, RetryPolicy(attempts=8, backoff=0.25), batch_rows=4)

    first = sink.write([encoded_rows(tiny_encoder, "a", 9)], ctx=None)
    assert (first.seen, first.written, first.empty, first.failed, first.retries) == (
        10, 10, 1, 0, 0,
    )
    with MilvusStore(own_server.uri, collection="sink") as store:
        [empty_doc] = store.get(["a9"])
        assert empty_doc.empty and store.get_vectors(["a9"]) == {"a9": {}}

    timer = paused(own_server, 2.0)  # a server away for 2 s: calls time out, then succeed
    second = sink.write([encoded_rows(tiny_encoder, "b", 9)], ctx=None)
    assert timer is not None
    timer.join()
    assert (second.written, second.failed) == (10, 0) and second.retries >= 1

    paused(own_server, None)  # away for good: bounded retries, then the rows count as failed
    give_up = MilvusDatasink(spec, RetryPolicy(attempts=2, backoff=0.1), batch_rows=4)
    third = give_up.write([encoded_rows(tiny_encoder, "c", 9)], ctx=None)
    assert (third.written, third.failed) == (0, 10)
    # Three batches of 4, 4 and 2 rows: the task stops trying after its first lost batch, so
    # only that batch was retried (once, with attempts=2); the others count as failed at once.
    assert third.retries == 1
    assert own_server._process is not None
    own_server._process.send_signal(signal.SIGCONT)
    with MilvusStore(own_server.uri, collection="sink") as store:
        assert store.count() == 20

    # Not transient (no such collection): raised at once, not retried.
    missing = MilvusDatasink(StoreConfig(own_server.uri, "missing", timeout=5), RetryPolicy())
    with pytest.raises(StoreError, match="does not exist"):
        missing.write([encoded_rows(tiny_encoder, "d", 1)], ctx=None)
    pauses: list[float] = []
    direct = RetryingStore(StoreConfig(own_server.uri, "missing", timeout=5), RetryPolicy(),
                           sleep=pauses.append)
    with pytest.raises(StoreError, match="does not exist"):
        direct.call(lambda s: s.count())
    assert (direct.retries, pauses) == (0, [])  # no pause, no second try
    direct.close()
