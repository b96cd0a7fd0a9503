"""One identity for a model's weights: a fast hash of every byte, cached by file.

Sampling the weight files (what spladekit did before) let two checkpoints that differ between
the samples count as one model, so their vectors could mix in one collection. Here every byte
of every weight file is hashed (BLAKE2b, read in 8 MiB chunks: about a second per GB). Each
file's digest is cached by its resolved path, size and modification time (nanoseconds): in this
process, and in ``spladekit/fingerprints.json`` under the user's cache folder
(``$XDG_CACHE_HOME`` or ``~/.cache``), so a later start-up with the same files reads none of
their bytes. A changed file changes its size or its modification time, and is hashed again.
The cache file is a convenience: when it cannot be read or written, files are hashed.

Collections recorded by earlier versions carry a fingerprint of samples of the files; the
store accepts that one for the same weights (:func:`earlier_fingerprint`) and records the
full one in its place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

from ..errors import ModelNotAvailableError
from .onnx_folder import read_metadata

_CHUNK = 8 << 20
_CACHE_NAME = "fingerprints.json"
_CACHE_LIMIT = 512  # entries kept in the cache file

_MEMORY: dict[str, str] = {}
_LOCK = threading.Lock()


def cache_path() -> Path:
    """Where file digests are cached between processes."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "spladekit" / _CACHE_NAME


def _key(path: Path) -> tuple[str, str]:
    # The change time and the inode too: `cp -p`, `rsync -t` and `tar` restore a modification
    # time (to the nanosecond), but no tool can set the change time, and a replaced file is a
    # new inode. Same size and time with other bytes must not reuse a digest.
    resolved = path.resolve()
    stat = resolved.stat()
    return str(resolved), (
        f"{resolved}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}|{stat.st_ino}"
    )


def _hash_file(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_cache() -> dict[str, str]:
    try:
        data = json.loads(cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _write_cache(entries: dict[str, str]) -> None:
    target = cache_path()
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        kept = dict(list(entries.items())[-_CACHE_LIMIT:])
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".fingerprints-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(kept, handle)
            os.replace(temp, target)  # whole or not at all, even with concurrent writers
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def file_digest(path: Path) -> str:
    """The BLAKE2b digest of every byte of ``path`` (cached by path, size and mtime)."""
    resolved, key = _key(path)
    with _LOCK:
        cached = _MEMORY.get(key)
    if cached is not None:
        return cached
    stored = _read_cache()
    digest = stored.get(key)
    if digest is None:
        digest = _hash_file(Path(resolved))
        if _key(path)[1] == key:  # unchanged while hashing: safe to remember
            stored = {k: v for k, v in stored.items() if not k.startswith(resolved + "|")}
            stored[key] = digest
            _write_cache(stored)
    with _LOCK:
        _MEMORY[key] = digest
    return digest


def files_fingerprint(files: list[Path]) -> str:
    """A short digest of weight files: each file's kind, size and full-content digest.

    The files are remembered beside it, so that the sampled fingerprint earlier versions
    recorded for them can be computed when a collection asks (:func:`earlier_fingerprint`).
    """
    digest = hashlib.sha256(b"spladekit-fingerprint-2")
    for path in files:
        digest.update(f"{path.suffix}:{path.stat().st_size}:{file_digest(path)}".encode())
    fingerprint = digest.hexdigest()[:16]
    with _LOCK:
        _FILES.setdefault(fingerprint, list(files))
    return fingerprint


# What spladekit up to 0.x recorded: the sizes and 16 evenly spaced 64 KiB samples of the
# files. Kept only to recognise collections recorded with it.
_SAMPLES = 16
_SAMPLE_BYTES = 64 * 1024
_FILES: dict[str, list[Path]] = {}  # the files of each fingerprint this process computed
_EARLIER: dict[str, str] = {}


def _sampled_fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        size = path.stat().st_size
        digest.update(f"{path.suffix}:{size}".encode())
        with open(path, "rb") as handle:
            for i in range(_SAMPLES):
                handle.seek(size * i // _SAMPLES)
                digest.update(handle.read(_SAMPLE_BYTES))
    return digest.hexdigest()[:16]


def earlier_fingerprint(fingerprint: str) -> str | None:
    """The sampled fingerprint earlier versions gave the weights that have ``fingerprint``
    (known once this process computed it), or None.

    Read from the files on the first call only: a start-up that meets no collection recorded
    by an earlier version reads none of their bytes.
    """
    with _LOCK:
        files = _FILES.get(fingerprint)
        earlier = _EARLIER.get(fingerprint)
    if earlier is None and files is not None:
        earlier = _sampled_fingerprint(files)
        with _LOCK:
            _EARLIER[fingerprint] = earlier
    return earlier


# The metadata key under which an ONNX export records its source model's fingerprint.
FINGERPRINT_KEY = "fingerprint"


def model_fingerprint(folder: Path) -> str:
    """A short digest that tells checkpoints apart, even of the same vocabulary.

    It hashes every byte of the weight files (cached as above), so two checkpoints that differ
    in any tensor differ. An ONNX export carries its source model's fingerprint in its metadata,
    so torch and ONNX runs of one checkpoint share it.
    """
    exported = read_metadata(folder).get(FINGERPRINT_KEY)
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    if isinstance(exported, str) and exported and not files:
        return exported
    files = files or sorted(folder.glob("*.onnx"))
    if not files:
        raise ModelNotAvailableError(f"{str(folder)!r} holds no weight files to fingerprint")
    return files_fingerprint(files)


def stale_export(folder: Path) -> str | None:
    """Why the ONNX export in ``folder`` no longer matches the torch weights beside it (a
    message), or None: the graph records its source's fingerprint, and weights changed since
    would otherwise run as the old graph under the new weights' identity."""
    recorded = read_metadata(folder).get(FINGERPRINT_KEY)
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    if not isinstance(recorded, str) or not recorded or not weights:
        return None
    current = files_fingerprint(weights)
    if current == recorded:
        return None
    return (
        f"the ONNX export in {str(folder)!r} was made from weights with fingerprint "
        f"{recorded}, but the weights beside it now have fingerprint {current}: the graph is "
        "stale. Export again (spladekit.export_onnx), or use backend='torch'"
    )


def table_fingerprint(path: Path) -> str:
    """A short digest of one file's bytes (an inference-free route's weight table)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


__all__ = [
    "FINGERPRINT_KEY",
    "cache_path",
    "earlier_fingerprint",
    "file_digest",
    "files_fingerprint",
    "model_fingerprint",
    "stale_export",
    "table_fingerprint",
]
