"""spladekit.corpus.inputs: what CORPUS arguments name, and the shards they are cut into.

Files, globs, BEIR folders, stdin and Parquet become records (``expand_inputs``,
``read_corpus``); every way of cutting a file into shards (``corpus_shards``, ``read_shard``)
reads the records, and the errors, that the whole file gives; ``spladekit index`` takes several
inputs in one process; compressed and CSV corpora are refused by name. How one file's lines
become records is tests/test_corpus.py's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from spladekit import InvalidArgumentError
from spladekit.cli import main
from spladekit.corpus import (
    Record,
    corpus_shards,
    expand_inputs,
    open_text,
    read_corpus,
    read_records,
    read_shard,
)
from spladekit.store.milvus import MilvusStore

# Blank and whitespace-only lines, a leading blank, CRLF, a lone CR, a BOM, non-ASCII text.
AWKWARD_TEXT = (
    b"\xef\xbb\xbf\n  \nfirst line\r\nsecond\rthird \xc3\xa9t\xc3\xa9\n\n\t\nlast without newline"
)
AWKWARD_JSONL = (
    b"\n\r\n"
    + b'{"id": "a", "text": "alpha", "metadata": {"k": 1}}\r\n'
    + b"\n"
    + b'{"_id": 7, "title": "Title", "text": "body \xe2\x80\x94 dash"}\r'
    + b'{"id": "c", "text": ""}\n'
    + b"   \n"
    + b'{"id": "d", "text": "delta"}'
)


def whole_file(path: Path, fmt: str = "auto") -> list[Record]:
    with open_text(str(path)) as handle:
        return list(read_records(handle, str(path), fmt))


def sharded(path: Path, shard_bytes: int, fmt: str = "auto") -> list[Record]:
    shards = corpus_shards([str(path)], fmt, shard_bytes=shard_bytes)
    return [record for shard in shards for record in read_shard(shard)]


@pytest.mark.parametrize("content", [AWKWARD_TEXT, AWKWARD_JSONL], ids=["text", "jsonl"])
@pytest.mark.parametrize("fmt", ["auto", "text", "jsonl"])
def test_every_shard_size_reads_the_records_of_the_whole_file(
    tmp_path: Path, content: bytes, fmt: str
) -> None:
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    try:
        expected = whole_file(path, fmt)
    except InvalidArgumentError as exc:  # text read as JSON lines: the same error, sharded too
        for size in (1, 7, 30):
            with pytest.raises(InvalidArgumentError) as caught:
                sharded(path, size, fmt)
            assert str(caught.value) == str(exc)
        return
    assert expected  # the file holds records in every format that reads it
    for size in range(1, len(content) + 2):
        assert sharded(path, size, fmt) == expected, f"shard_bytes={size}"
    shards = corpus_shards([str(path)], fmt, shard_bytes=5)
    assert len(shards) > 2  # cut at most once per newline
    assert sum(s.rows for s in shards) >= len(expected)


def test_a_bad_line_in_a_later_shard_is_named_as_in_the_whole_file(tmp_path: Path) -> None:
    lines = [json.dumps({"id": str(i), "text": f"text {i}"}) for i in range(40)]
    lines[31] = '{"id": "31", "text": broken'
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="line 32: not valid JSON") as whole:
        whole_file(path)
    shards = corpus_shards([str(path)], shard_bytes=64)
    assert shards[-1].first_line > 32
    with pytest.raises(InvalidArgumentError) as pieces:
        for shard in shards:
            list(read_shard(shard))
    assert str(pieces.value) == str(whole.value)


def test_plain_text_ids_are_line_numbers_and_carry_the_path_when_several_files_are_read(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.txt").write_text("one\ntwo\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("three\n", encoding="utf-8")
    (tmp_path / "c.jsonl").write_text('{"id": "x", "text": "json"}\n', encoding="utf-8")
    a, b, c = (str(tmp_path / name) for name in ("a.txt", "b.txt", "c.jsonl"))
    assert [r.id for r in read_corpus([a])] == ["0", "1"]
    assert [(r.id, r.text) for r in read_corpus([a, b, c])] == [
        (f"{a}:0", "one"), (f"{a}:1", "two"), (f"{b}:0", "three"), ("x", "json"),
    ]
    # A glob names its matches in sorted order; the same file twice is read once.
    assert [r.id for r in read_corpus([str(tmp_path / "*.txt"), a])] == [
        f"{a}:0", f"{a}:1", f"{b}:0",
    ]


def test_folders_globs_and_stdin(tmp_path: Path) -> None:
    beir = tmp_path / "beir"
    beir.mkdir()
    (beir / "corpus.jsonl").write_text('{"_id": "d1", "title": "T", "text": "x"}\n')
    assert expand_inputs([str(beir)]) == [str(beir / "corpus.jsonl")]
    assert list(read_corpus([str(beir)])) == [Record("d1", "T x")]
    with pytest.raises(InvalidArgumentError, match="no file matches"):
        expand_inputs([str(tmp_path / "*.nothing")])
    with pytest.raises(InvalidArgumentError, match=r"cannot read .*no such file"):
        expand_inputs([str(tmp_path / "missing.jsonl")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidArgumentError, match=r"without corpus\.jsonl"):
        expand_inputs([str(empty)])
    with pytest.raises(InvalidArgumentError, match=r"stdin .* alone"):
        expand_inputs(["-", str(beir)])
    with pytest.raises(InvalidArgumentError, match=r"stdin .* cannot be cut"):
        corpus_shards(["-"])


def write_parquet(path: Path, rows: list[dict[str, object]], row_group_size: int) -> None:
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)


def test_parquet_reads_like_json_lines_whatever_its_row_groups(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"_id": i, "title": f"title {i}" if i % 3 else None, "text": f"text {i}",
         "metadata": json.dumps({"n": i}) if i % 2 else None}
        for i in range(25)
    ]
    path = tmp_path / "corpus.parquet"
    write_parquet(path, rows, row_group_size=4)
    jsonl = tmp_path / "corpus.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps({**r, "metadata": json.loads(str(r["metadata"])) if r["metadata"] else None})
            + "\n"
            for r in rows
        ),
        encoding="utf-8",
    )
    expected = whole_file(jsonl)
    assert list(read_corpus([str(path)])) == expected
    shards = corpus_shards([str(path)], shard_bytes=1)  # one row group each
    assert len(shards) == 7 and [s.first_line for s in shards[:3]] == [1, 5, 9]
    assert [r for s in shards for r in read_shard(s)] == expected
    # A folder of Parquet files reads them in name order.
    folder = tmp_path / "parts"
    folder.mkdir()
    write_parquet(folder / "b.parquet", rows[10:], 100)
    write_parquet(folder / "a.parquet", rows[:10], 100)
    assert list(read_corpus([str(folder)])) == expected


def test_parquet_errors_name_the_file_and_row(tmp_path: Path) -> None:
    path = tmp_path / "no_id.parquet"
    write_parquet(path, [{"text": "a"}], 10)
    with pytest.raises(InvalidArgumentError, match=r"needs 'id' .* and 'text'"):
        corpus_shards([str(path)])
    path = tmp_path / "bad.parquet"
    write_parquet(path, [{"id": "a", "text": "x"}, {"id": "b", "text": None}], 10)
    with pytest.raises(InvalidArgumentError, match=r"bad.parquet row 2: 'text' must be a string"):
        list(read_corpus([str(path)]))


def test_cli_index_takes_several_files_in_one_process(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    (tmp_path / "a.txt").write_text("graphene conducts heat\nproteins fold\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"id": "j1", "text": "cells divide"}\n', encoding="utf-8")
    uri = str(tmp_path / "multi.db")
    result = CliRunner().invoke(
        main,
        ["index", str(tmp_path / "a.txt"), str(tmp_path / "b.jsonl"), "--uri", uri,
         "--collection", "multi", "--model", str(tiny_model_dir), "-q"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["encoded"] == 3
    a = str(tmp_path / "a.txt")
    with MilvusStore(uri, collection="multi") as store:
        assert {d.id: d.text for d in store.get([f"{a}:0", f"{a}:1", "j1"])} == {
            f"{a}:0": "graphene conducts heat", f"{a}:1": "proteins fold", "j1": "cells divide",
        }


def test_gzip_and_csv_corpora_are_refused_by_name(tmp_path: Path) -> None:
    import gzip

    from spladekit.corpus import read_corpus
    from spladekit.errors import InvalidArgumentError

    packed = tmp_path / "corpus.jsonl.gz"
    packed.write_bytes(gzip.compress(b'{"id": "a", "text": "x"}\n'))
    disguised = tmp_path / "corpus.jsonl"
    disguised.write_bytes(gzip.compress(b'{"id": "a", "text": "x"}\n'))
    for path in (packed, disguised):
        with pytest.raises(InvalidArgumentError, match=r"gzip-compressed.*gunzip"):
            list(read_corpus([str(path)]))
    for suffix, kind in ((".csv", "CSV"), (".tsv", "TSV")):
        table = tmp_path / f"table{suffix}"
        table.write_text("id,text\na,hello\n", encoding="utf-8")
        with pytest.raises(InvalidArgumentError, match=rf"is a {kind} table"):
            list(read_corpus([str(table)]))


def test_errors_about_a_record_name_the_file_and_line(tmp_path: Path) -> None:
    from spladekit.corpus import read_corpus
    from spladekit.errors import InvalidArgumentError

    corpus = tmp_path / "c.jsonl"
    deep = '{"a": ' * 3000 + "1" + "}" * 3000
    lines = [
        '{"id": "ok", "text": "x"}',
        '{"id": "' + "x" * 600 + '", "text": "x"}',
    ]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match=r"c\.jsonl line 2 id must have 1 to 512"):
        list(read_corpus([str(corpus)]))
    corpus.write_text(lines[0] + '\n{"id": "d", "text": "x", "metadata": ' + deep + "}\n",
                      encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match=r"c\.jsonl line 2"):
        list(read_corpus([str(corpus)]))
