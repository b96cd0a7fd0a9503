"""Fetch the Milvus server binary used by the tests and benchmarks against a real Milvus server.

The ``milvus-lite==2.5.1`` wheel (manylinux x86_64) ships the C++ Milvus engine as a program,
``milvus_lite/lib/milvus``, with the shared libraries it needs beside it. Run as
``LD_LIBRARY_PATH=<lib> <lib>/milvus <db-file> 127.0.0.1:<port> ERROR`` it serves the Milvus
gRPC API on that port. That wheel conflicts with milvus-lite 3.x (spladekit's embedded default)
in one environment, so this script downloads it with ``pip download --no-deps`` and unpacks
only ``lib/`` into ``$SPLADEKIT_MILVUS_SERVER`` (default
``~/.cache/spladekit/milvus-server-2.5.1``), outside any virtual environment.

Usage: ``python scripts/fetch_milvus_server.py`` (idempotent; prints the binary's path).
"""

from __future__ import annotations

import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

VERSION = "2.5.1"
WHEEL_PLATFORM = "manylinux2014_x86_64"
LIB_PREFIX = "milvus_lite/lib/"


def server_dir() -> Path:
    """Where the binary lives: $SPLADEKIT_MILVUS_SERVER or the default cache folder."""
    default = Path.home() / ".cache" / "spladekit" / f"milvus-server-{VERSION}"
    return Path(os.environ.get("SPLADEKIT_MILVUS_SERVER", default)).expanduser()


def supported_platform() -> bool:
    """The wheel holds a Linux x86_64 program only."""
    return sys.platform.startswith("linux") and platform.machine().lower() in ("x86_64", "amd64")


def fetch(target: Path) -> Path:
    """Download the wheel, unpack its lib/ folder into ``target/lib``; return the binary."""
    binary = target / "lib" / "milvus"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--only-binary=:all:", "--platform", WHEEL_PLATFORM,
                "--dest", tmp, f"milvus-lite=={VERSION}",
            ],
            check=True,
        )
        wheels = sorted(Path(tmp).glob(f"milvus_lite-{VERSION}-*.whl"))
        if not wheels:
            raise SystemExit(f"pip download produced no milvus_lite-{VERSION} wheel in {tmp}")
        # Unpack into a sibling folder, then rename: an interrupted run leaves no half binary.
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
        staging.chmod(0o755)
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in wheel.namelist():
                if not name.startswith(LIB_PREFIX) or name.endswith("/"):
                    continue
                dest = staging / "lib" / name[len(LIB_PREFIX):]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(wheel.read(name))
        staged_binary = staging / "lib" / "milvus"
        # zipfile does not restore permission bits.
        mode = staged_binary.stat().st_mode
        staged_binary.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        (staging / "VERSION").write_text(f"milvus-lite {VERSION} ({wheels[0].name})\n")
        if target.exists():
            # An incomplete earlier unpack: replace it.
            shutil.rmtree(target)
        staging.rename(target)
    return binary


def main() -> int:
    if not supported_platform():
        print(
            f"the Milvus server binary from milvus-lite {VERSION} exists for Linux x86_64 only "
            f"(this is {sys.platform} {platform.machine()}); tests against a server will be "
            "skipped",
            file=sys.stderr,
        )
        return 0
    target = server_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    print(fetch(target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
