"""Bad corpus input (spladekit.corpus), read directly and through the CLI.

A file that is not UTF-8, a JSON lines file with a byte order mark (read as JSON), a surrogate
escape in a JSON line, and an input path that is a folder: each named, and through the CLI one
line on stderr and a non-zero exit, with no traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spladekit import InvalidArgumentError
from support.bad_inputs import assert_one_line_error, run_cli


@pytest.mark.parametrize("command", ["encode", "index"])
def test_a_file_that_is_not_utf8_is_one_line(
    command: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("first line\ncaf\u00e9 au lait\n".encode("latin-1"))
    store = ["--uri", str(tmp_path / "x.db")]
    args = ["-i", str(latin1)] if command == "encode" else [str(latin1), *store]
    proc = run_cli(command, *args, "--model", str(tiny_model_dir), "-q")
    assert_one_line_error(proc, "is not UTF-8 text: byte 0xe9 cannot be decoded")


def test_a_json_lines_file_with_a_byte_order_mark_is_read_as_json(run_encode_lines) -> None:  # type: ignore[no-untyped-def]
    jsonl = b'{"id": "d1", "text": "graphene"}\n{"id": "d2", "text": "x"}\n'
    rows = run_encode_lines(b"\xef\xbb\xbf" + jsonl)
    assert [r["id"] for r in rows] == ["d1", "d2"]


def test_a_surrogate_escape_in_json_names_the_line(tmp_path: Path) -> None:
    from spladekit.corpus import read_records

    lines = ['{"id": "a", "text": "ok"}', '{"id": "b", "text": "caf\\ud800"}']
    with pytest.raises(InvalidArgumentError, match="input line 2 text contains a lone surrogate"):
        list(read_records(lines))


@pytest.fixture
def run_encode_lines(tiny_model_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    def run(data: bytes) -> list[dict[str, object]]:
        path = tmp_path / "input.jsonl"
        path.write_bytes(data)
        proc = run_cli("encode", "--model", str(tiny_model_dir), "-i", str(path), "-q")
        assert proc.returncode == 0, proc.stderr
        return [json.loads(line) for line in proc.stdout.decode().splitlines()]

    return run


def test_an_input_path_that_is_a_folder_is_one_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    proc = run_cli("encode", "--model", str(tiny_model_dir), "-i", str(tmp_path))
    assert_one_line_error(proc, "Is a directory")
