"""A real Milvus server process on a loopback port, for the tests, the benchmarks or by hand.

The C++ Milvus engine from the ``milvus-lite==2.5.1`` wheel, unpacked outside the virtual
environment by ``scripts/fetch_milvus_server.py``, serves the Milvus gRPC API on a loopback port.

Usage: ``python scripts/milvus_server.py [DATA_DIR]`` starts one, prints its URI and serves
until interrupted (its data in DATA_DIR, or in a temporary folder removed after).

As a module, :class:`MilvusServer` starts and stops one. The tests' session fixture
(tests/support/milvus_server.py) and the benchmarks (``bench/_common.py``'s ``milvus_server()``)
load this file by its path, as this file loads ``fetch_milvus_server.py``: it lives in scripts/,
beside the script that owns the binary, so that neither tests/ nor bench/ imports the other and
no one edits ``sys.path``. Only the standard library is imported at module level (pymilvus when
a server is started).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType


def _fetch_script() -> ModuleType:
    # The fetch script owns where the binary lives and where it can run; reuse it.
    path = Path(__file__).resolve().parent / "fetch_milvus_server.py"
    spec = importlib.util.spec_from_file_location("fetch_milvus_server", path)
    assert spec is not None and spec.loader is not None  # a file in this repository
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_FETCH = _fetch_script()
VERSION: str = _FETCH.VERSION
FETCH_HINT = "run `.venv/bin/python scripts/fetch_milvus_server.py` (scripts/setup.sh does)"


def server_dir() -> Path:
    folder: Path = _FETCH.server_dir()
    return folder


def platform_supported() -> bool:
    """The binary exists for Linux x86_64 only."""
    supported: bool = _FETCH.supported_platform()
    return supported


def binary_path() -> Path:
    return server_dir() / "lib" / "milvus"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MilvusServer:
    """Start the server on a free loopback port with its data in ``data_dir``; stop it after."""

    def __init__(self, data_dir: Path, binary: Path | None = None) -> None:
        self.binary = binary or binary_path()
        self.data_dir = data_dir
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "milvus-server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> str:
        """Launch the process and wait until it answers a Milvus call; return its URI."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lib = str(self.binary.parent)
        env = dict(os.environ)
        if env.get("LD_LIBRARY_PATH"):
            lib += ":" + env["LD_LIBRARY_PATH"]
        env["LD_LIBRARY_PATH"] = lib
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                [
                    str(self.binary), str(self.data_dir / "server.db"),
                    f"127.0.0.1:{self.port}", "ERROR",
                ],
                cwd=self.data_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"Milvus server exited with code {self._process.returncode}; log: "
                    f"{self.log_path.read_text(errors='replace')[-2000:]}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                from pymilvus import MilvusClient

                # dedicated: closed for good on close(), so no idle channel keeps pinging the
                # server (it answers idle pings with GOAWAY "too_many_pings").
                client = MilvusClient(uri=self.uri, timeout=5, dedicated=True)
                client.list_collections()
                client.close()
                return self.uri
            except Exception as exc:  # not up yet: retry until the deadline
                last_error = exc
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"Milvus server did not answer on {self.uri} in {timeout:.0f} s: {last_error}"
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> MilvusServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run a real Milvus server on a loopback port until interrupted."
    )
    parser.add_argument(
        "data_dir", nargs="?", type=Path,
        help="where the server keeps its data (default: a temporary folder, removed after)",
    )
    args = parser.parse_args(argv)
    if not platform_supported():
        print(f"the Milvus server binary (milvus-lite {VERSION}) exists for Linux x86_64 only",
              file=sys.stderr)
        return 1
    if not binary_path().is_file():
        print(f"the Milvus server binary is missing at {binary_path()}: {FETCH_HINT}",
              file=sys.stderr)
        return 1
    # SIGTERM stops the server as Ctrl-C does (it runs in its own session: it would outlive us).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with (
        tempfile.TemporaryDirectory(prefix="milvus-server-") as tmp,
        MilvusServer(args.data_dir or Path(tmp)) as server,
    ):
        print(server.uri, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
