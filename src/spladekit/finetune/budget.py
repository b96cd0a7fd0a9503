"""The sparsity budget: how many non-zeros a fine-tuned model may give a document and a query.

By default the budget is the base model's own mean non-zeros on a fixed probe of documents and
queries from the training data, so the fine-tuned model's index is no larger and its queries no
slower than the base's. :class:`BudgetController` raises the FLOPS regulariser's weight while
the model is over budget (doubling it at each check) and never lowers it below the starting
weight; the dev score of a checkpoint over budget is penalised, so the best checkpoint kept
is one within budget whenever training made one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InvalidArgumentError

# A checkpoint over budget scores this much less on dev: any in-budget one is preferred.
OVER_BUDGET_PENALTY = 1.0
# The regulariser's multiplier never grows past this (a runaway weight zeroes every vector).
MAX_MULTIPLIER = 4096.0



@dataclass(frozen=True)
class SparsityBudget:
    """Mean non-zeros allowed per document and per query (None: no limit on that side)."""

    document: float | None
    query: float | None

    def __post_init__(self) -> None:
        for side in ("document", "query"):
            value = getattr(self, side)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise InvalidArgumentError(
                    f"the {side} budget must be a positive number of non-zeros, got {value!r}"
                )

    def over(self, document: float, query: float | None) -> dict[str, bool]:
        """Which sides exceed the budget at the measured means."""
        return {
            "document": self.document is not None and document > self.document,
            "query": self.query is not None and query is not None and query > self.query,
        }

    def met(self, document: float, query: float | None) -> bool:
        return not any(self.over(document, query).values())


@dataclass
class ControllerState:
    """The controller's state, saved with every checkpoint so a resumed run continues it."""

    document_multiplier: float = 1.0
    query_multiplier: float = 1.0
    checks: int = 0
    last_document_nnz: float | None = None
    last_query_nnz: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ControllerState:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def adjust(state: ControllerState, budget: SparsityBudget, document: float,
           query: float | None) -> ControllerState:
    """The next state after one measurement: double a side's weight while it is over budget."""
    over = budget.over(document, query)
    return ControllerState(
        min(MAX_MULTIPLIER, state.document_multiplier * (2.0 if over["document"] else 1.0)),
        min(MAX_MULTIPLIER, state.query_multiplier * (2.0 if over["query"] else 1.0)),
        state.checks + 1, document, query,
    )


def dev_score(ndcg: float, budget: SparsityBudget, document: float, query: float | None) -> float:
    """The score that chooses the best checkpoint: dev nDCG@10, penalised when over budget."""
    return ndcg - (0.0 if budget.met(document, query) else OVER_BUDGET_PENALTY)


__all__ = [
    "MAX_MULTIPLIER",
    "OVER_BUDGET_PENALTY",
    "ControllerState",
    "SparsityBudget",
    "adjust",
    "dev_score",
]
