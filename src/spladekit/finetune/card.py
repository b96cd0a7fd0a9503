"""The fine-tuned model's card: ``README.md`` for people, ``spladekit_finetune.json`` for tools.

The JSON records the base model (name and fingerprint), the data (source, SHA-256, counts, the
rule that made the pairs, the dev split), mining, the sparsity budget and the non-zeros before
and after, the hyper-parameters, training (steps, epochs, resume, early stop) and the
before/after table. ``spladekit inspect`` prints it (read by
:mod:`spladekit.checkpoint.description`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..checkpoint.description import FINETUNE_RECORD
from ..evaluation import METRICS

CARD = "README.md"


def table_rows(evaluation: dict[str, Any]) -> list[tuple[str, dict[str, float]]]:
    """(label, metrics) rows of a before/after evaluation, in the order they are printed."""
    rows: list[tuple[str, dict[str, float]]] = []
    for key, label in (("base", "base"), ("tuned", "fine-tuned")):
        report = evaluation.get(key)
        if not report:
            continue
        rows.append((f"{label} SPLADE", report["spladekit"]))
        if report.get("hybrid"):
            rows.append((f"{label} hybrid (SPLADE + Milvus BM25, RRF)", report["hybrid"]))
    base = evaluation.get("base") or {}
    if base.get("milvus_bm25"):
        rows.append(("Milvus BM25", base["milvus_bm25"]))
    if base.get("bm25"):
        rows.append(("BM25 (bm25s, stemmed)", base["bm25"]))
    return rows


def table_lines(evaluation: dict[str, Any]) -> list[str]:
    """The before/after table as fixed-width lines (what the CLI prints)."""
    rows = table_rows(evaluation)
    if not rows:
        return []
    width = max(len(label) for label, _ in rows) + 2
    lines = [f"{'system':<{width}}" + "".join(f"{m:>12}" for m in METRICS)]
    lines += [
        f"{label:<{width}}" + "".join(f"{values[m]:>12.4f}" for m in METRICS)
        for label, values in rows
    ]
    return lines


def _markdown_table(evaluation: dict[str, Any]) -> str:
    rows = table_rows(evaluation)
    if not rows:
        return "No evaluation was run (the data has no test or dev qrels).\n"
    head = "| system | " + " | ".join(METRICS) + " |\n|---|" + "---|" * len(METRICS) + "\n"
    return head + "".join(
        f"| {label} | " + " | ".join(f"{values[m]:.4f}" for m in METRICS) + " |\n"
        for label, values in rows
    )


def write_card(folder: Path, record: dict[str, Any]) -> None:
    """Write ``README.md`` and the JSON record into the model folder."""
    (folder / FINETUNE_RECORD).write_text(json.dumps(record, indent=2, sort_keys=True))
    base = record["base_model"]
    data = record["data"]
    sparsity = record["sparsity"]
    nnz = sparsity["after"], sparsity["before"]
    split = record["evaluation"].get("split")
    text = f"""---
library_name: sentence-transformers
tags: [sparse-encoder, splade, spladekit]
base_model: {base["name"]}
---

# {folder.name}

A SPLADE model fine-tuned by `spladekit finetune` from **{base["name"]}**
(fingerprint `{base["fingerprint"]}`).

## Data

- source: `{data["source"]}` (SHA-256 `{data["digest"]}`)
- pairs: {data["rule"]}; {data["counts"]}
- dev split: {data["dev_rule"] or "none"}
- hard negatives: {record["mining"]["summary"]}

## Sparsity

Budget: {sparsity["budget"]} mean non-zeros (document, query) on a probe of
{sparsity["probe"]["documents"]} documents and {sparsity["probe"]["queries"]} queries.
Before: {nnz[1]}; after: {nnz[0]}; budget met: {sparsity["met"]}.

## Quality{f" (qrels/{split}.tsv, never seen in training)" if split else ""}

{_markdown_table(record["evaluation"])}
## Hyper-parameters

```json
{json.dumps(record["hyperparameters"], indent=2, sort_keys=True)}
```

Load it with `spladekit.SpladeEncoder("{folder.name}")` or sentence-transformers'
`SparseEncoder("{folder.name}")`: both give the same vectors.
"""
    (folder / CARD).write_text(text)


__all__ = ["CARD", "table_lines", "table_rows", "write_card"]
