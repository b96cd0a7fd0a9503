"""What the bad-input tests (tests/test_bad_inputs_*.py) share.

The real command in a fresh process and the check that its error is one line, a text with a lone
surrogate, and a second checkpoint of splade-tiny (same vocabulary, other weights).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SURROGATE = "caf\ud800"


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """The real command in a fresh process: what a user's terminal shows."""
    return subprocess.run(
        [sys.executable, "-m", "spladekit.cli", *args], input=stdin, capture_output=True,
        timeout=300, check=False,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[bytes], fragment: str) -> None:
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode != 0, err
    assert err.startswith("error: "), err
    assert len(err.strip().splitlines()) == 1, err  # no traceback, no library logs
    assert fragment in err, err


def write_other_checkpoint(tiny_model_dir: Path, folder: Path) -> Path:
    """splade-tiny copied to ``folder`` with slightly different weights: same vocabulary,
    another checkpoint. Returns ``folder``."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(tiny_model_dir, folder)
    weights = load_file(str(folder / "model.safetensors"))
    generator = torch.Generator().manual_seed(0)
    changed = {
        k: (v + 1e-3 * torch.randn(v.shape, generator=generator) if v.is_floating_point() else v)
        for k, v in weights.items()
    }
    save_file(changed, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder
