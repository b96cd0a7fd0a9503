"""What a loaded model is, in words and as data: :class:`ModelDescription`.

``SpladeEncoder.description`` and ``spladekit inspect MODEL`` give the family, backbone,
vocabulary, each route's modules, pooling and activation, lengths, prompts, top-k, and the
licence where it is known (from :data:`~spladekit.checkpoint.known.KNOWN_MODELS`, else the
model card's ``license:`` line).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .known import KNOWN_MODELS
from .spec import ModelSpec, RouteDescription, activation_formula

FINETUNE_RECORD = "spladekit_finetune.json"
"""The record ``spladekit finetune`` writes into a model it made (base, data, figures)."""


@dataclass(frozen=True)
class ModelDescription:
    """Everything spladekit read from a model and how it will run it."""

    name: str
    family: str
    layout: str
    vocabulary: int
    shared_route: bool
    routes: tuple[RouteDescription, ...]
    prompts: dict[str, str]
    top_k: int | None
    licence: str | None
    fingerprint: str
    finetuned: dict[str, Any] | None = None
    """What ``spladekit finetune`` recorded when it made this model (None for other models)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The description as a few readable lines (what ``spladekit inspect`` prints)."""
        out = [
            f"model       {self.name}",
            f"family      {self.family}",
            f"layout      {self.layout}",
            f"vocabulary  {self.vocabulary}",
            f"licence     {self.licence or 'unknown (see the model card)'}",
            f"top-k       {self.top_k if self.top_k is not None else 'none'}",
            f"prompts     {json.dumps(self.prompts) if self.prompts else 'none'}",
            f"fingerprint {self.fingerprint}",
        ]
        if self.finetuned is not None:
            out += finetune_lines(self.finetuned)
        for route in self.routes:
            where = "query+document" if self.shared_route else route.side
            how = (
                f"{route.pooling} pooling of {activation_formula(route.activation or 'relu')} "
                f"({route.activation})"
                if route.kind == "mlm"
                else "weight lookup of each distinct token (no model run)"
            )
            out.append(
                f"route {where}: {' -> '.join(route.modules)}; backbone "
                f"{route.backbone or '-'}; backend {route.backend}; {how}; max length "
                f"{route.max_length}{'; lowercased' if route.lowercase else ''}"
            )
        return out


def finetune_record(folder: Path) -> dict[str, Any] | None:
    """The fine-tune record in ``folder``, if it has one that reads as a JSON object."""
    path = folder / FINETUNE_RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def finetune_lines(record: dict[str, Any]) -> list[str]:
    """A fine-tune record in a few lines: base, data, sparsity, quality before and after."""
    base = record.get("base_model", {})
    data = record.get("data", {})
    sparsity = record.get("sparsity", {})
    out = [
        f"fine-tuned  from {base.get('name')!r} (fingerprint {base.get('fingerprint')})",
        f"  data      {data.get('rule')}; sha256 {str(data.get('digest'))[:16]}...",
        f"  sparsity  non-zeros (document, query) before {sparsity.get('before')}, after "
        f"{sparsity.get('after')}, budget {sparsity.get('budget')}",
    ]
    evaluation = record.get("evaluation", {})
    for key in ("base", "tuned"):
        report = evaluation.get(key) or {}
        metrics = report.get("spladekit") or {}
        if "nDCG@10" in metrics:
            hybrid = (report.get("hybrid") or {}).get("nDCG@10")
            extra = f", hybrid {hybrid:.4f}" if isinstance(hybrid, float) else ""
            out.append(
                f"  {key:<9} nDCG@10 {metrics['nDCG@10']:.4f}{extra} on "
                f"qrels/{evaluation.get('split')}.tsv"
            )
    return out


def family_of(spec: ModelSpec) -> str:
    """The kind of model its routes make: one encoder, a pair, or inference-free queries."""
    if spec.symmetric:
        return "SPLADE (one masked-LM for queries and documents)"
    if not spec.query.runs_model:
        return "inference-free (documents by a masked-LM, queries by a weight lookup)"
    return "query/document encoder pair"


def licence_of(name: str, folder: Path) -> str | None:
    """The licence: known for published checkpoints, else the model card's ``license:``."""
    known = KNOWN_MODELS.get(name)
    if known is not None:
        return known.licence
    card = folder / "README.md"
    if not card.is_file():
        return None
    try:
        text = card.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if not text.startswith("---"):
        return None
    for line in text.split("\n---", 1)[0].splitlines()[1:]:
        key, _, value = line.partition(":")
        if key.strip() == "license" and value.strip():
            return value.strip()
    return None


__all__ = [
    "ModelDescription",
    "RouteDescription",
    "family_of",
    "licence_of",
]
