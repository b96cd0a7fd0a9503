"""`spladekit encode`: inputs from arguments, files and stdin; JSON lines out; one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from spladekit.cli import main


@pytest.fixture()
def run(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SPLADEKIT_MODEL", str(tiny_model_dir))
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(main, ["encode", *args], input=stdin)

    return invoke


def lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


NOTE = re.compile(
    r"note: (\d+) of (\d+) texts were longer than (\d+) tokens and were truncated "
    r"\(--long-documents window keeps all of them\)"
)


def truncation_note(stderr: str) -> tuple[int, int, int]:
    """(truncated, texts, limit) from the one truncation note on stderr."""
    notes = [NOTE.fullmatch(line.strip()) for line in stderr.splitlines()]
    found = [(int(m[1]), int(m[2]), int(m[3])) for m in notes if m]
    assert len(found) == 1, stderr
    return found[0]


def test_texts_as_arguments_give_one_json_line_each(run) -> None:  # type: ignore[no-untyped-def]
    result = run("hello world", "When was AI founded", "--quiet")
    assert result.exit_code == 0, result.output
    rows = lines(result.stdout)
    assert [r["id"] for r in rows] == ["0", "1"]
    for row in rows:
        assert len(row["indices"]) == len(row["values"]) > 0  # type: ignore[arg-type]
        assert row["indices"] == sorted(row["indices"])  # type: ignore[type-var]


def test_explain_and_top_k_show_the_heaviest_tokens(run) -> None:  # type: ignore[no-untyped-def]
    result = run("artificial intelligence", "--top-k", "3", "--explain", "-q")
    row = lines(result.stdout)[0]
    assert len(row["indices"]) == 3  # type: ignore[arg-type]
    assert "artificial" in row["tokens"]  # type: ignore[operator]


def test_jsonl_and_beir_corpus_files_keep_their_ids(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        '{"_id": "d1", "title": "Graphene", "text": "conducts heat"}\n'
        '{"id": 7, "text": "plain record"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "vectors.jsonl"
    result = run("--input", str(corpus), "--output", str(out), "-q")
    assert result.exit_code == 0, result.output
    rows = lines(out.read_text(encoding="utf-8"))
    assert [r["id"] for r in rows] == ["d1", "7"]


def test_text_files_and_stdin_are_one_text_per_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text_file = tmp_path / "texts.txt"
    text_file.write_text("first line\nsecond line\n", encoding="utf-8")
    from_file = lines(run("-i", str(text_file), "-q").stdout)
    from_stdin = lines(run("-q", stdin="first line\nsecond line\n").stdout)
    assert [r["id"] for r in from_file] == ["0", "1"]
    assert from_file == from_stdin


def test_queries_flag_uses_query_encoding(run) -> None:  # type: ignore[no-untyped-def]
    text = "where was alan turing born and where did he study mathematics " * 8
    limits = ("--query-max-length", "6", "--document-max-length", "64")
    as_query = run("--queries", text, *limits)
    as_document = run(text, *limits)
    assert as_query.exit_code == 0 and as_document.exit_code == 0
    assert lines(as_query.stdout)[0]["id"] == "0"
    # The query limit (6 tokens) applies with --queries, the document one (64) without.
    assert truncation_note(as_query.stderr) == (1, 1, 6)
    assert truncation_note(as_document.stderr) == (1, 1, 64)
    query_terms = len(lines(as_query.stdout)[0]["indices"])  # type: ignore[arg-type]
    assert query_terms < len(lines(as_document.stdout)[0]["indices"])  # type: ignore[arg-type]


def test_truncation_is_reported_on_stderr(run) -> None:  # type: ignore[no-untyped-def]
    result = run("word " * 800, "short text")
    assert result.exit_code == 0
    assert truncation_note(result.stderr) == (1, 2, 512)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "/no/such/folder", "x"], "error: no model folder at '/no/such/folder'"),
        (["--input", "/no/such/file.jsonl"], "error: cannot read '/no/such/file.jsonl'"),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(run, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = run(*args)
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(message)
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_malformed_json_line_names_the_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "ok"}\n{"id": "b", "text": \n', encoding="utf-8")
    result = run("-i", str(bad))
    assert result.exit_code == 1
    assert "line 2: not valid JSON" in result.stderr


def test_the_installed_command_runs_and_shows_a_progress_bar(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    texts = tmp_path / "many.txt"
    texts.write_text(
        "".join(f"document number {i} about cells\n" for i in range(80)), encoding="utf-8"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "spladekit.cli",
            "encode",
            "--model",
            str(tiny_model_dir),
            "-i",
            str(texts),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [r["id"] for r in lines(proc.stdout)] == [str(i) for i in range(80)]
    # The tqdm bar on stderr: "n/total [" counts, rising to 80 of 80.
    counts = [(int(m[1]), int(m[2])) for m in re.finditer(r"(\d+)/(\d+) \[", proc.stderr)]
    assert counts and counts[-1] == (80, 80)
    assert {total for _, total in counts} == {80}
    assert [done for done, _ in counts] == sorted(done for done, _ in counts)
