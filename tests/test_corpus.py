"""read_records: plain text, JSON lines and BEIR corpora become the same Records everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from spladekit import InvalidArgumentError
from spladekit.corpus import Record, open_text, read_records


def test_plain_text_lines_get_line_number_ids_and_blank_lines_are_kept() -> None:
    records = list(read_records(["first\n", "\n", "third\r\n"], fmt="text"))
    assert records == [Record("0", "first"), Record("1", ""), Record("2", "third")]


def test_json_lines_take_id_text_and_metadata_and_skip_blank_lines() -> None:
    lines = [
        '{"id": 7, "text": "a", "metadata": {"year": 2020}}\n', "\n", '{"id": "b", "text": ""}'
    ]
    assert list(read_records(lines)) == [
        Record("7", "a", {"year": 2020}),
        Record("b", ""),
    ]


def test_beir_rows_join_title_and_text() -> None:
    lines = [
        '{"_id": "d1", "title": "Graphene", "text": "conducts heat"}',
        '{"_id": "d2", "title": "Only a title", "text": ""}',
        '{"_id": "d3", "title": "  ", "text": "no title"}',
    ]
    assert [r.text for r in read_records(lines)] == [
        "Graphene conducts heat", "Only a title", "no title",
    ]


def test_auto_detects_json_from_the_first_non_empty_line() -> None:
    assert list(read_records(["\n", '{"id": "x", "text": "y"}'])) == [Record("x", "y")]
    assert list(read_records(["not json {", "second"])) == [
        Record("0", "not json {"), Record("1", "second"),
    ]


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('{"text": "no id"}', "line 1: missing 'id'"),
        ('{"id": "a", "text": 5}', "line 1: 'text' must be a string, got int"),
        ('{"id": "a", "text": "t", "metadata": [1]}', "'metadata' must be a JSON object"),
        ('["a", "b"]', "expected a JSON object"),
        ('{"id": "a", "text": "t"', "line 1: not valid JSON"),
    ],
)
def test_malformed_json_names_the_line_and_the_problem(line: str, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment):
        list(read_records([line], source="corpus.jsonl", fmt="jsonl"))


def test_a_file_with_a_byte_order_mark_reads_as_json(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a", "text": "x"}\n')
    with open_text(str(path)) as handle:
        assert list(read_records(handle, str(path))) == [Record("a", "x")]
    # stdin keeps the mark in its first line: it is dropped there too.
    assert list(read_records(['\ufeff{"id": "a", "text": "x"}'])) == [Record("a", "x")]


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="format must be auto, jsonl or text"):
        list(read_records([], fmt="csv"))
