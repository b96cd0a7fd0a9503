"""Corpora: the records spladekit reads, and the files they come from.

- :mod:`.records`: :class:`Record`; plain text (one per line), JSON lines and BEIR
  ``corpus.jsonl`` read into records;
- :mod:`.inputs`: what CORPUS arguments name (files, globs, BEIR folders, Parquet), planned into
  :class:`Shard` s (:mod:`.shard`) that read independently;
- :mod:`.lines`: line files cut right after a newline; :mod:`.parquet`: Parquet files cut
  between row groups.

Ids: a JSON or Parquet record keeps its own id. A plain-text line's id is its line number ("0",
"1", ...) when one file is read; when several are, it is ``<path>:<line number>`` with the path
as given (normalised), so lines of different files never share an id. Run a job again with the
same paths (from the same folder) and the ids are the same, which is what resuming relies on.
"""

from __future__ import annotations

from .inputs import BEIR_CORPUS, corpus_shards, expand_inputs, read_corpus, read_shard
from .lines import refuse_unsupported
from .parquet import PARQUET_INSTALL
from .records import FORMATS, Record, open_text, read_records, record_from_mapping
from .shard import Shard

__all__ = [
    "BEIR_CORPUS",
    "FORMATS",
    "PARQUET_INSTALL",
    "Record",
    "Shard",
    "corpus_shards",
    "expand_inputs",
    "open_text",
    "read_corpus",
    "read_records",
    "read_shard",
    "record_from_mapping",
    "refuse_unsupported",
]
