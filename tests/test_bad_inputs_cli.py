"""Bad command-line arguments: one line on stderr and a non-zero exit, no traceback, no logs.

A blank search, a lone surrogate in an argument, a malformed filter, and a search with another
model than the collection's (refused unless ``--allow-other-model``). The CLI's errors for bad
corpus files and damaged stores are in test_bad_inputs_corpus.py and test_bad_inputs_store.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from spladekit.store.milvus import MilvusStore
from support.bad_inputs import assert_one_line_error, run_cli


def test_the_cli_refuses_a_blank_search(tiny_model_dir: Path, tmp_path: Path) -> None:
    uri = str(tmp_path / "blank.db")
    with MilvusStore(uri, collection="docs") as store:
        store.upsert(["a"], [{1: 1.0}])
    model = str(tiny_model_dir)
    proc = run_cli("search", " ", "--uri", uri, "--collection", "docs", "--model", model)
    assert_one_line_error(proc, "query is blank")
    assert proc.stdout == b""


def test_the_cli_names_a_surrogate_in_an_argument(tiny_model_dir: Path) -> None:
    # A byte that is not UTF-8 reaches Python as a lone surrogate (surrogateescape).
    proc = subprocess.run(
        [sys.executable, "-m", "spladekit.cli", "encode", "--model", str(tiny_model_dir),
         b"caf\xe9".decode("utf-8", "surrogateescape")],
        capture_output=True, timeout=300, check=False,
    )
    assert_one_line_error(proc, "lone surrogate")


def test_a_malformed_filter_is_one_line_without_library_logs(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    uri = str(tmp_path / "f.db")
    with MilvusStore(uri, collection="docs") as store:
        store.upsert(["a"], [{1: 1.0}])
    proc = run_cli(
        "search", "graphene", "--uri", uri, "--collection", "docs", "--model",
        str(tiny_model_dir), "--filter", "metadata[",
    )
    assert_one_line_error(proc, "Milvus search failed")


def test_the_cli_refuses_another_model_in_one_line(
    tiny_model_dir: Path, other_model_dir: Path, tmp_path: Path
) -> None:
    uri = str(tmp_path / "cli.db")
    corpus = tmp_path / "c.txt"
    corpus.write_text("graphene conducts heat\nmitochondria make ATP\n")
    first = run_cli("index", str(corpus), "--uri", uri, "--model", str(tiny_model_dir), "-q")
    assert first.returncode == 0, first.stderr
    proc = run_cli("search", "graphene", "--uri", uri, "--model", str(other_model_dir))
    assert_one_line_error(proc, "--allow-other-model")
    again = run_cli(
        "search", "graphene", "--uri", uri, "--model", str(other_model_dir), "--allow-other-model"
    )
    assert again.returncode == 0 and b'"rank": 1' in again.stdout
