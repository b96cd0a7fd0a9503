"""Shared fixtures: the real small SPLADE model (splade-tiny) and encoders built on it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Ray reads these when it is first imported, which a test module may do at collection time: set
# them before any test module is imported, so that the session's Ray cluster binds 127.0.0.1
# only and sends no usage report.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# tests/support/ holds helpers the tests import (``support.<module>``: pytest puts tests/ on
# sys.path), not tests: never collect from it.
collect_ignore = ["support"]

TINY_DEFAULT = Path.home() / ".cache" / "spladekit" / "models" / "splade-tiny"
REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "data" / "scifact"


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """splade-tiny, fetched by scripts/fetch_test_model.py (part of scripts/setup.sh)."""
    folder = Path(os.environ.get("SPLADEKIT_TEST_MODEL", TINY_DEFAULT)).expanduser()
    if not (folder / "model.safetensors").is_file():
        pytest.fail(
            f"splade-tiny is missing at {folder}: run `python scripts/fetch_test_model.py` "
            "(scripts/setup.sh does)"
        )
    return folder


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from spladekit import SpladeEncoder

    return SpladeEncoder(tiny_model_dir)


@pytest.fixture(scope="session")
def other_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """splade-tiny with slightly different weights: same vocabulary, another checkpoint."""
    from support.bad_inputs import write_other_checkpoint

    folder = tmp_path_factory.mktemp("models") / "splade-tiny-other"
    return write_other_checkpoint(tiny_model_dir, folder)


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    if not (SCIFACT / "corpus.jsonl").is_file():
        pytest.skip(f"SciFact is not at {SCIFACT}")
    return SCIFACT


@pytest.fixture(scope="session")
def backbone_dirs(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The tiny random RoBERTa, XLM-RoBERTa, CamemBERT and ModernBERT masked LMs of
    tests/support/backbone_models.py, each built once per session on first use."""
    from support.backbone_models import BackboneDirs

    return BackboneDirs(tmp_path_factory.mktemp("backbones"))


# -- Milvus: a Lite file per test and one real Milvus server per session --------------------


@pytest.fixture(scope="session")
def milvus_server_uri(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """URI of a real Milvus server (C++ engine from milvus-lite 2.5.1) on a loopback port."""
    from support.milvus_server import FETCH_HINT, MilvusServer, binary_path, platform_supported

    if not platform_supported():
        pytest.skip("the Milvus server binary (milvus-lite 2.5.1) exists for Linux x86_64 only")
    if not binary_path().is_file():
        pytest.fail(f"the Milvus server binary is missing at {binary_path()}: {FETCH_HINT}")
    server = MilvusServer(tmp_path_factory.mktemp("milvus-server"))
    server.start()
    yield server.uri
    server.stop()


@pytest.fixture(params=["lite", pytest.param("server", marks=pytest.mark.server)])
def milvus_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test runs twice: on a fresh Milvus Lite file, and on the shared real server."""
    if request.param == "lite":
        return str(tmp_path / "store.db")
    return str(request.getfixturevalue("milvus_server_uri"))


@pytest.fixture
def collection_name() -> str:
    """A collection name no other test uses (the server is shared by the session)."""
    import uuid

    return f"test_{uuid.uuid4().hex[:12]}"


# -- spladekit serve: one real server process shared by the HTTP, client and page tests ------

SERVE_KEY = "test-key-0123456789"
# Query and document settings that differ, so that a request encoded with the wrong ones shows.
SERVED_SETTINGS = {
    "query_instruction": "query: ",
    "doc_instruction": "passage: ",
    "k_tokens_query": 24,
    "query_max_length": 32,
}


class Served:
    """The shared server: its address and key, and the in-process function it must match."""

    def __init__(self, process, key: str, reference, collection: str) -> None:  # type: ignore[no-untyped-def]
        self.process = process
        self.url: str = process.url
        self.key = key
        self.reference = reference
        self.collection = collection


@pytest.fixture(scope="session")
def served(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`spladekit serve` on splade-tiny with an API key and a Milvus Lite collection."""
    from spladekit import SpladeEmbeddingFunction
    from support.serve_process import ServeProcess

    folder = tmp_path_factory.mktemp("served")
    s = SERVED_SETTINGS
    process = ServeProcess(
        [
            "--model", str(tiny_model_dir), "--uri", str(folder / "served.db"),
            "--collection", "served", "--bm25",
            "--query-instruction", str(s["query_instruction"]),
            "--doc-instruction", str(s["doc_instruction"]),
            "--k-tokens-query", str(s["k_tokens_query"]),
            "--query-max-length", str(s["query_max_length"]),
        ],
        folder,
        env={"SPLADEKIT_API_KEY": SERVE_KEY},
    ).start()
    try:
        process.wait_ready()
        reference = SpladeEmbeddingFunction(str(tiny_model_dir), **s)  # type: ignore[arg-type]
        yield Served(process, SERVE_KEY, reference, "served")
    finally:
        code = process.stop()
    assert code == 0, f"the shared server exited with {code}: {process.log}"


# -- Ray: one real local cluster per session ----------------------------------------------


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """A real local Ray cluster for the session: loopback only, 2 CPUs, no dashboard, quiet.

    The test process stays connected (spladekit's jobs use that connection); a subprocess joins
    the cluster with ``--ray <this address>``.
    """
    try:
        import ray
        import ray.data
    except ImportError:
        pytest.fail("Ray is not installed: pip install 'spladekit[ray]' (scripts/setup.sh does)")
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
        logging_level=logging.ERROR, _node_ip_address="127.0.0.1",
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield str(ray.get_runtime_context().gcs_address)
    ray.shutdown()
