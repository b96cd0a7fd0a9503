"""Milvus Lite specifics: one process per file, and a check that a folder is whole before opening.

Milvus Lite 3.x keeps a collection in a folder (``x.db/collections/<name>/``): ``schema.json``,
``manifest.json`` (the list of Parquet data files) with ``manifest.json.prev`` one save behind,
``partitions/*/data|delta/*.parquet`` and a write-ahead log in ``wal/``. When ``manifest.json``
cannot be read, milvus-lite falls back to ``manifest.json.prev`` with only a log line, and its
recovery then deletes every data file that older manifest does not list (with one flush
behind it: every row). :func:`check_lite_folder` finds such damage first, so spladekit refuses
to open the folder and is never the cause of data being removed.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from ..errors import StoreError

_MANIFEST = "manifest.json"
_PARQUET_MAGIC = b"PAR1"

# Milvus Lite files opened by stores in this process, with how many stores hold each: the
# in-process Lite server keeps the file's lock until the last store closes it.
_OPEN: dict[str, int] = {}
_OPEN_LOCK = threading.Lock()


def is_lite_uri(uri: str) -> bool:
    """True for a Milvus Lite file: pymilvus treats any URI ending in ``.db`` as one."""
    return uri.endswith(".db")


def lite_major_version() -> int:
    """The installed milvus-lite's major version (3 for the pure-Python engine)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return int(version("milvus-lite").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return 0


def acquire(path: str) -> None:
    """Count a store on ``path``; the first one checks the folder and that no process holds it."""
    with _OPEN_LOCK:
        if path not in _OPEN:
            check_lite_folder(path)
            _check_not_locked(path)
        _OPEN[path] = _OPEN.get(path, 0) + 1


def release(path: str) -> None:
    """Uncount a store; the last one stops the in-process Lite server, freeing the file."""
    with _OPEN_LOCK:
        left = _OPEN.get(path, 1) - 1
        if left > 0:
            _OPEN[path] = left
            return
        _OPEN.pop(path, None)
        _FAILED.pop(path, None)  # a fresh open recovers from the log and is checked again
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(path)


# -- sharing one file between threads, and what an I/O error leaves -------------------------

# milvus-lite runs one engine per file in this process; its flush (and the compaction a flush
# can start) is not safe to run concurrently ("current_seq is monotonic"), and writes that
# race a flush are what it can lose. Writes and flushes on one file therefore take its lock.
_WRITE_LOCKS: dict[str, threading.Lock] = {}
# Files whose write failed with an I/O error: milvus-lite's write-ahead log may then hold a
# torn record, and recovery stops there, dropping every later write. Refuse further writes
# until every store on the file is closed and it is opened again (recovery then runs).
_FAILED: dict[str, str] = {}
_IO_ERRORS = (
    "[Errno 28]", "No space left", "[Errno 5]", "Input/output error", "[Errno 30]",
    "Read-only file system", "[Errno 122]", "Disk quota exceeded", "[Errno 27]",
    "File too large",
)


def write_lock(path: str) -> threading.Lock:
    """The lock that serialises writes and flushes on one Lite file in this process."""
    with _OPEN_LOCK:
        return _WRITE_LOCKS.setdefault(path, threading.Lock())


def is_io_error(message: str) -> bool:
    """Whether a failed call's message reports a disk error (full, I/O, read-only)."""
    return any(mark in message for mark in _IO_ERRORS)


def mark_failed(path: str, message: str) -> None:
    """Remember that a write to ``path`` failed with an I/O error."""
    with _OPEN_LOCK:
        if path in _OPEN:
            _FAILED.setdefault(path, message)


def failure(path: str) -> str | None:
    """The I/O error that made ``path`` refuse writes, if any."""
    return _FAILED.get(path)


def _check_not_locked(path: str) -> None:
    """Fail clearly when another process holds the Lite file (Lite allows one at a time)."""
    import fcntl

    lock_path = os.path.join(path, "LOCK")
    if not os.path.isfile(lock_path):
        return
    try:
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
    except BlockingIOError as exc:
        raise StoreError(
            f"the Milvus Lite file {path!r} is in use by another process (Milvus Lite allows one "
            "process per file); wait for it to finish, or use a Milvus server "
            "(uri http://host:19530) for concurrent access"
        ) from exc
    except PermissionError as exc:
        raise StoreError(
            f"cannot open the Milvus Lite file {path!r}: no permission to write its LOCK file; "
            "run as a user who may write to that folder"
        ) from exc


def check_lite_folder(path: str) -> None:
    """Refuse a Milvus Lite path that milvus-lite would open wrongly or not at all.

    Checks that the path is a folder (or absent, with a writable parent) and that every
    collection in it has a readable schema and manifest whose data files exist and are Parquet.
    """
    target = Path(path)
    parent = target.parent
    try:
        exists = target.exists()
    except OSError as exc:  # a folder on the way that this user may not enter
        raise StoreError(
            f"cannot access the Milvus Lite file {path!r}: {exc.strerror}; check the permissions "
            "of the folders on its path"
        ) from None
    if not exists:
        if not parent.is_dir():
            raise StoreError(
                f"cannot create the Milvus Lite file {path!r}: the folder {str(parent)!r} does "
                "not exist; create it first or choose another path"
            )
        if not os.access(parent, os.W_OK | os.X_OK):
            raise StoreError(
                f"cannot create the Milvus Lite file {path!r}: no permission to write in "
                f"{str(parent)!r}; choose a writable folder"
            )
        return
    if lite_major_version() < 3:
        return  # milvus-lite 2.x keeps a single file of its own format
    if not target.is_dir():
        raise StoreError(
            f"{path!r} is a file, not a Milvus Lite 3 folder; it may be another program's file "
            "or a Milvus Lite 2.x database (which milvus-lite 3 cannot read); choose another path"
        )
    if not os.access(target, os.W_OK | os.X_OK):
        raise StoreError(
            f"cannot open the Milvus Lite file {path!r}: no permission to write in it; run as a "
            "user who may write to that folder"
        )
    for collection in _collection_folders(target):
        problem = _collection_problem(collection)
        if problem:
            raise StoreError(
                f"the Milvus Lite file {path!r} is damaged: {problem}. spladekit refuses to open "
                "it, because milvus-lite would silently fall back to an older state and delete "
                "data files; restore the folder from a backup, or index into a new file"
            )


def _collection_folders(root: Path) -> list[Path]:
    parents = [root / "collections"]
    databases = root / "databases"
    if databases.is_dir():
        parents += [d / "collections" for d in sorted(databases.iterdir()) if d.is_dir()]
    return [c for p in parents if p.is_dir() for c in sorted(p.iterdir()) if c.is_dir()]


def _collection_problem(folder: Path) -> str | None:
    name = folder.name
    try:
        json.loads((folder / "schema.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"collection {name!r} has no schema.json"
    except (OSError, ValueError) as exc:
        return f"collection {name!r} has an unreadable schema.json ({exc})"
    on_disk = _parquet_files(folder)
    manifest = folder / _MANIFEST
    if not manifest.exists():
        if on_disk:
            return f"collection {name!r} has data files but no {_MANIFEST}"
        return None
    try:
        listed = _listed_files(json.loads(manifest.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        return f"collection {name!r} has a corrupt {_MANIFEST} ({exc})"
    listed |= _snapshot_files(folder)
    for rel in sorted(listed):
        file = folder / "partitions" / rel
        if not file.is_file():
            return f"collection {name!r} lists a missing data file {rel}"
        if not _is_parquet(file):
            return f"collection {name!r} has a data file that is not Parquet: {rel}"
    wal = folder / "wal"
    has_wal = wal.is_dir() and any(f.suffix == ".arrow" for f in wal.iterdir())
    unlisted = sorted(on_disk - listed)
    if unlisted and not has_wal:  # with a WAL they are a crash's leftovers, replayed safely
        return f"collection {name!r} has data files its manifest does not list: {unlisted[:3]}"
    return None


def _listed_files(manifest: Any) -> set[str]:
    if not isinstance(manifest, dict):
        raise ValueError("the manifest is not a JSON object")
    partitions = manifest.get("partitions", {})
    if not isinstance(partitions, dict):
        raise ValueError("'partitions' is not an object")
    listed: set[str] = set()
    for partition, contents in partitions.items():
        if not isinstance(contents, dict):
            raise ValueError(f"partition {partition!r} is not an object")
        for key in ("data_files", "delta_files"):
            files = contents.get(key, [])
            if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                raise ValueError(f"partition {partition!r} {key} is not a list of names")
            listed.update(f"{partition}/{f}" for f in files)
    return listed


def _snapshot_files(folder: Path) -> set[str]:
    """Data files that milvus-lite snapshots still reference (kept by its recovery too)."""
    try:
        from milvus_lite.storage.snapshots import snapshot_references
    except ImportError:
        return set()
    data, delta, _ = snapshot_references(str(folder))
    return {f"{p}/{f}" for refs in (data, delta) for p, files in refs.items() for f in files}


def _parquet_files(folder: Path) -> set[str]:
    partitions = folder / "partitions"
    if not partitions.is_dir():
        return set()
    return {
        f"{p.name}/{sub}/{f.name}"
        for p in partitions.iterdir()
        if p.is_dir()
        for sub in ("data", "delta")
        if (p / sub).is_dir()
        for f in (p / sub).iterdir()
        if f.suffix == ".parquet"
    }


def _is_parquet(file: Path) -> bool:
    size = file.stat().st_size
    if size < 2 * len(_PARQUET_MAGIC):
        return False
    with open(file, "rb") as handle:
        head = handle.read(len(_PARQUET_MAGIC))
        handle.seek(-len(_PARQUET_MAGIC), os.SEEK_END)
        return head == _PARQUET_MAGIC and handle.read(len(_PARQUET_MAGIC)) == _PARQUET_MAGIC


__all__ = [
    "acquire",
    "check_lite_folder",
    "failure",
    "is_io_error",
    "is_lite_uri",
    "lite_major_version",
    "mark_failed",
    "release",
    "write_lock",
]
