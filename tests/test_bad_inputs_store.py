"""Bad arguments and bad folders for the stores (MilvusStore, MemoryStore).

Each gets a SpladeError that names the problem, what was got and what to do: search and upsert
arguments, too many hits, lone surrogates in stored texts, ids and filters, store paths that are
files or in missing, unwritable or unreachable folders, and damaged Milvus Lite collections
(refused, with no data deleted; through the CLI, one line).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spladekit import InputTypeError, InvalidArgumentError, MemoryStore, StoreError
from spladekit.store.milvus import MilvusStore
from support.bad_inputs import SURROGATE, assert_one_line_error, run_cli

# -- arguments ----------------------------------------------------------------------------------


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


def test_too_many_hits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="k must be an int from 1 to 16384"):
        MemoryStore().search({1: 1.0}, k=100_000)


def test_a_lone_surrogate_in_a_stored_text_id_or_filter_is_named(tmp_path: Path) -> None:
    with MilvusStore(str(tmp_path / "u.db")) as store:
        with pytest.raises(InvalidArgumentError, match=r"texts\[0\] contains a lone surrogate"):
            store.upsert(["a"], [{1: 1.0}], [SURROGATE])
        with pytest.raises(InvalidArgumentError, match=r"ids\[0\] contains a lone surrogate"):
            store.upsert([SURROGATE], [{1: 1.0}])
        with pytest.raises(InvalidArgumentError, match="filter contains a lone surrogate"):
            store.search({1: 1.0}, filter=f'text == "{SURROGATE}"')
        assert store.count() == 0


# -- paths that are files, unwritable and corrupt stores ----------------------------------------


def test_a_store_path_that_is_a_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database")
    with pytest.raises(StoreError, match="is a file, not a Milvus Lite 3 folder"):
        MilvusStore(str(path))
    assert path.read_text() == "not a database"


def test_a_store_in_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"the folder .* does not exist"):
        MilvusStore(str(tmp_path / "no" / "such" / "dir" / "x.db"))


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
