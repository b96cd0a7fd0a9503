"""What a checkpoint folder is: :class:`ModelSpec`, its routes and their pooling, as data.

:func:`~spladekit.checkpoint.reader.read_spec` builds one from a folder. Each route kind carries
its own behaviour (its fingerprint, its description, the masked-LMs it runs), so no module
switches on the kind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, get_args

from ..options import Activation
from .fingerprint import model_fingerprint, table_fingerprint
from .onnx_folder import is_onnx_folder

Layout = Literal["huggingface", "opensearch-idf", "sentence-transformers", "router"]
PoolingStrategy = Literal["max", "sum"]
POOLING_STRATEGIES: tuple[PoolingStrategy, ...] = get_args(PoolingStrategy)
Side = Literal["query", "document"]

MODULES_FILE = "modules.json"
ST_MODULE_CONFIG = "sentence_bert_config.json"
ST_MODEL_CONFIG = "config_sentence_transformers.json"
ROUTER_CONFIG = "router_config.json"
IDF_FILE = "idf.json"

# sentence-transformers' own default document prompt names, in its order.
_DOCUMENT_PROMPTS = ("document", "passage", "corpus")


@dataclass(frozen=True)
class PoolingSpec:
    """How per-position logits become one weight per vocabulary entry.

    ``max`` (SPLADE v2 and later) or ``sum`` (the original SPLADE) over real positions of
    ``f(z[t, v])``, with ``f = log1p(relu(.))`` (``relu``) or ``log1p(log1p(relu(.)))``
    (``log1p_relu``, OpenSearch's v3 models).
    """

    strategy: PoolingStrategy = "max"
    activation: Activation = "relu"

    def describe(self) -> str:
        return f"{self.strategy} over real tokens of {activation_formula(self.activation)}"


def activation_formula(activation: str) -> str:
    """An activation as a formula of a logit ``x``, for descriptions."""
    return "log1p(relu(x))" if activation == "relu" else "log1p(log1p(relu(x)))"


DEFAULT_POOLING = PoolingSpec()


@dataclass(frozen=True)
class RouteDescription:
    """One side of a model: what runs, on what, how it pools, how long its inputs may be."""

    side: str
    kind: str
    modules: tuple[str, ...]
    folder: str
    backbone: str | None
    backend: str
    pooling: str | None
    activation: str | None
    """sentence-transformers' name: ``relu`` = log1p(relu(x)), ``log1p_relu`` one more log1p."""
    max_length: int
    lowercase: bool


@dataclass(frozen=True)
class MlmRouteSpec:
    """A masked-LM (torch weights or a spladekit ONNX export) and how its logits are pooled."""

    folder: Path
    pooling: PoolingSpec
    max_seq_length: int | None
    do_lower_case: bool
    modules: tuple[str, ...]
    kind: Literal["mlm"] = "mlm"

    @property
    def onnx(self) -> bool:
        return is_onnx_folder(self.folder)

    runs_model: ClassVar[bool] = True
    """Whether a model runs on this route (an inference-free route only looks up weights)."""

    def fingerprint(self) -> str:
        """A digest of the route's weights (an ONNX export's: its source's)."""
        return model_fingerprint(self.folder)

    def masked_lms(self) -> tuple[MlmRouteSpec, ...]:
        """The masked-LMs this route runs (what an export converts)."""
        return (self,)

    def named_files(self) -> tuple[Path, ...]:
        """Files its configuration names by path (beyond its folder's own)."""
        return ()

    def describe(self, side: str, *, backend: str, max_length: int) -> RouteDescription:
        return RouteDescription(
            side, self.kind, self.modules, str(self.folder), _backbone(self.folder), backend,
            self.pooling.strategy, self.pooling.activation, max_length, self.do_lower_case,
        )


@dataclass(frozen=True)
class StaticRouteSpec:
    """An inference-free route: the tokenizer in ``folder`` and one weight per vocabulary entry.

    ``weights`` is a safetensors file holding ``weight`` (vocab,) or a ``{token: weight}`` JSON
    table (OpenSearch's ``idf.json``).
    """

    folder: Path
    weights: Path
    max_seq_length: int | None
    modules: tuple[str, ...]
    kind: Literal["static"] = "static"

    runs_model: ClassVar[bool] = False

    def fingerprint(self) -> str:
        """A digest of the weight table's bytes."""
        return table_fingerprint(self.weights)

    def masked_lms(self) -> tuple[MlmRouteSpec, ...]:
        return ()

    def named_files(self) -> tuple[Path, ...]:
        return (self.weights,)

    def describe(self, side: str, *, backend: str, max_length: int) -> RouteDescription:
        return RouteDescription(
            side, self.kind, self.modules, str(self.folder), None, backend, None, None,
            max_length, False,
        )


RouteSpec = MlmRouteSpec | StaticRouteSpec


@dataclass(frozen=True)
class ModelSpec:
    """Everything spladekit read from a checkpoint folder, before loading any weights."""

    folder: Path
    layout: Layout
    query: RouteSpec
    document: RouteSpec
    prompts: dict[str, str] = field(default_factory=dict)
    max_active_dims: int | None = None

    @property
    def symmetric(self) -> bool:
        """Whether queries and documents share one route (one model)."""
        return self.query is self.document

    def prompt(self, side: Side) -> str:
        """The prompt sentence-transformers prepends on this side by default ("" for none)."""
        if side == "query":
            return self.prompts.get("query", "")
        for name in _DOCUMENT_PROMPTS:
            if name in self.prompts:
                return self.prompts[name]
        return ""

    def routes(self) -> dict[Side, RouteSpec]:
        return {"query": self.query, "document": self.document}


def _backbone(folder: Path) -> str | None:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = config.get("model_type") if isinstance(config, dict) else None
    return str(value) if value else None


__all__ = [
    "DEFAULT_POOLING",
    "IDF_FILE",
    "MODULES_FILE",
    "POOLING_STRATEGIES",
    "ROUTER_CONFIG",
    "ST_MODEL_CONFIG",
    "ST_MODULE_CONFIG",
    "Layout",
    "MlmRouteSpec",
    "ModelSpec",
    "PoolingSpec",
    "PoolingStrategy",
    "RouteDescription",
    "RouteSpec",
    "Side",
    "StaticRouteSpec",
    "activation_formula",
]
