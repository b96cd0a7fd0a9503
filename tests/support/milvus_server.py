"""The real Milvus server for the tests: scripts/milvus_server.py, loaded by its path.

The helper that starts and stops the server lives in scripts/, beside the script that fetches
its binary, because the benchmarks use it too (bench/_common.py loads it the same way) and
neither tests/ nor bench/ reaches into the other. This module re-exports its public names, so
the tests write ``from support.milvus_server import MilvusServer``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

__all__ = [
    "FETCH_HINT",
    "VERSION",
    "MilvusServer",
    "binary_path",
    "free_port",
    "platform_supported",
    "server_dir",
]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "milvus_server.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("milvus_server_script", SCRIPT)
    assert spec is not None and spec.loader is not None  # a file in this repository
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_SCRIPT = _load()
VERSION: str = _SCRIPT.VERSION
FETCH_HINT: str = _SCRIPT.FETCH_HINT
MilvusServer = _SCRIPT.MilvusServer
binary_path = _SCRIPT.binary_path
free_port = _SCRIPT.free_port
platform_supported = _SCRIPT.platform_supported
server_dir = _SCRIPT.server_dir
