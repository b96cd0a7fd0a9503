"""What ``spladekit encode -o FILE`` writes appears whole or not at all: a failed run leaves an
earlier output as it was, and an output naming the input is refused before anything happens.
Each case runs the real command in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def encode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spladekit.cli", "encode", *args],
        capture_output=True, text=True, check=False, timeout=300,
    )


def test_a_failed_run_leaves_the_earlier_output_as_it_was(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("first text\nsecond text\n", encoding="utf-8")
    out = tmp_path / "vectors.jsonl"
    done = encode("--model", str(tiny_model_dir), "-i", str(texts), "-o", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    before = out.read_bytes()
    assert [json.loads(line)["id"] for line in before.decode().splitlines()] == ["0", "1"]

    missing_model = encode("--model", str(tmp_path / "no-model"), "-i", str(texts), "-o",
                           str(out), "--quiet")
    assert missing_model.returncode != 0
    bad_input = encode("--model", str(tiny_model_dir), "-i", str(tmp_path / "absent.txt"),
                       "-o", str(out), "--quiet")
    assert bad_input.returncode != 0
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["texts.txt", "vectors.jsonl"]


def test_an_output_naming_the_input_is_refused_and_the_input_kept(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("first text\nsecond text\n", encoding="utf-8")
    link = tmp_path / "same.txt"
    link.symlink_to(texts)
    for output in (texts, link):
        refused = encode("--model", str(tiny_model_dir), "-i", str(texts), "-o", str(output))
        assert refused.returncode != 0
        assert "is the input file" in refused.stderr
        assert texts.read_text(encoding="utf-8") == "first text\nsecond text\n"
