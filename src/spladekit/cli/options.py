"""Options shared by several commands, derived from the library's own declarations.

Encoder choices come from :class:`~spladekit.options.EncoderConfig`'s ``Literal`` types and its
defaults, store options from :class:`~spladekit.store.config.StoreConfig`'s (a command gets them
as one ``store`` argument: :func:`store_config`), search options from
:class:`~spladekit.store.protocol.SearchOptions`'. Every option has an environment fallback
where one helps (``SPLADEKIT_MODEL``, ``SPLADEKIT_URI``, ``MILVUS_TOKEN``...).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from ..checkpoint.known import DEFAULT_MODEL
from ..options import (
    ACTIVATIONS,
    LONG_DOCUMENT_MODES,
    PRECISIONS,
    EncoderConfig,
    Progress,
    backend_names,
)
from ..store.config import INDEX_ALGOS, StoreConfig
from ..store.protocol import DEFAULT_RRF_K, FUSIONS, MAX_K, SEARCH_MODES
from ..validation import MIN_MAX_LENGTH

if TYPE_CHECKING:
    from ..encoder import SpladeEncoder

F = TypeVar("F", bound=Callable[..., Any])

# Set to 1 for tracebacks (and Ray's own logs) instead of one-line errors.
DEBUG_ENV = "SPLADEKIT_DEBUG"
# Inputs at least this long get a progress bar on stderr.
PROGRESS_MIN = 64
_DEFAULTS = EncoderConfig()
_STORE_DEFAULTS = StoreConfig()


def apply(func: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        func = option(func)
    return func


# -- encoder ---------------------------------------------------------------------------------

_ENCODER_OPTIONS = (
    "model", "device", "batch_size", "backend", "precision", "long_documents",
    "query_max_length", "document_max_length", "activation",
)


def encoder_options(func: F) -> F:
    """--model, --device, --batch-size, --backend, --precision, --long-documents,
    --query-max-length, --document-max-length, --activation.

    The command receives them as one ``encoder: EncoderChoice`` argument.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _ENCODER_OPTIONS}
        model = values.pop("model")
        return func(*args, encoder=EncoderChoice(model, EncoderConfig(**values)), **kwargs)

    decorated: Any = wrapper
    return apply(
        decorated,
        [
            click.option(
                "--model", default=DEFAULT_MODEL, show_default=True, envvar="SPLADEKIT_MODEL",
                help="Hugging Face id, local folder, or exported ONNX folder "
                "[env: SPLADEKIT_MODEL].",
            ),
            click.option(
                "--device", default=_DEFAULTS.device, show_default=True,
                envvar="SPLADEKIT_DEVICE", help="cpu, cuda or cuda:N [env: SPLADEKIT_DEVICE].",
            ),
            click.option(
                "--batch-size", type=click.IntRange(min=1), default=_DEFAULTS.batch_size,
                show_default=True, help="Texts per forward pass.",
            ),
            click.option(
                "--backend", type=click.Choice(backend_names()), default=None,
                help="torch (exact) or onnx (an exported folder; see export-onnx). Default: onnx "
                "for an exported folder, else torch.",
            ),
            click.option(
                "--precision", type=click.Choice(PRECISIONS), default=_DEFAULTS.precision,
                show_default=True,
                help="fp32 (exact), bf16 (CPUs with native bf16, CUDA), fp16 (CUDA), int8 (onnx).",
            ),
            click.option(
                "--long-documents", type=click.Choice(LONG_DOCUMENT_MODES),
                default=_DEFAULTS.long_documents, show_default=True,
                help="Texts over the model's limit: truncate, or encode in windows and max-pool.",
            ),
            click.option(
                "--activation", type=click.Choice(ACTIVATIONS), default=None,
                help="relu = log1p(relu(x)), log1p_relu = log1p(log1p(relu(x))) (OpenSearch v3) "
                "[default: what the model's folder says; relu for a plain folder].",
            ),
            click.option(
                "--query-max-length", type=click.IntRange(min=MIN_MAX_LENGTH), default=None,
                help="Tokens per query at most [default: the model's limit, 512 for BERT].",
            ),
            click.option(
                "--document-max-length", type=click.IntRange(min=MIN_MAX_LENGTH), default=None,
                help="Tokens per document at most [default: the model's limit].",
            ),
        ],
    )


class EncoderChoice:
    """The model and options a command was given; builds the encoder when asked."""

    def __init__(self, model: str, config: EncoderConfig) -> None:
        self.model = model
        self.config = config

    def build(self) -> SpladeEncoder:
        from ..encoder import SpladeEncoder

        return SpladeEncoder(self.model, self.config)


# -- store and search ------------------------------------------------------------------------


def store_config(func: F) -> F:
    """Hand the store options a command declares (``StoreConfig``'s fields: --uri, --token,
    --collection, --inverted-index-algo, --bm25, --analyzer, --allow-other-model) to it as one
    ``store: StoreConfig`` argument; None when its --collection is None (a command for which
    no collection means no store). Place it above those options."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in StoreConfig.field_names() if name in kwargs}
        store = None if values.get("collection", "") is None else StoreConfig(**values)
        return func(*args, store=store, **kwargs)

    return cast(F, wrapper)


def store_options(func: F) -> F:
    """--uri, --token: where the Milvus collection lives."""
    return apply(
        func,
        [
            click.option(
                "--uri", envvar="SPLADEKIT_URI", default=_STORE_DEFAULTS.uri, show_default=True,
                help="Milvus Lite file (*.db), server address such as http://localhost:19530, or "
                "memory:// (exact, in memory, for eval) [env: SPLADEKIT_URI].",
            ),
            click.option(
                "--token", envvar="MILVUS_TOKEN", default=None,
                help="Milvus server token, user:password or API key [env: MILVUS_TOKEN].",
            ),
        ],
    )


collection_option = click.option(
    "--collection", envvar="SPLADEKIT_COLLECTION", default=_STORE_DEFAULTS.collection,
    show_default=True,
    help="Collection name [env: SPLADEKIT_COLLECTION].",
)

allow_other_model_option = click.option(
    "--allow-other-model", is_flag=True,
    help="Use a collection built with another model anyway (its scores will not be comparable).",
)

chunk_size_option = click.option(
    "--chunk-size", type=click.IntRange(min=1), default=256, show_default=True,
    help="Documents encoded and written per step; each written step survives a crash.",
)

inverted_index_algo_option = click.option(
    "--inverted-index-algo", type=click.Choice(INDEX_ALGOS), default=None,
    help=f"The index algorithm of a new collection [default: {INDEX_ALGOS[0]}].",
)


_SEARCH_OPTIONS = ("filter_expr", "drop_ratio_search", "mode", "fusion", "rrf_k", "weights")


def _weights(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        splade, bm25 = (float(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected two numbers, SPLADE,BM25, got {value!r}") from None
    return (splade, bm25)


def ray_options(func: F) -> F:
    """--ray, --workers, --cpus-per-worker, --gpus-per-worker: run the command on Ray Data."""
    return apply(
        func,
        [
            click.option(
                "--ray", "ray_address", default=None, metavar="local|auto|ADDRESS",
                envvar="SPLADEKIT_RAY",
                help="Run on Ray Data: local starts Ray on this machine, auto joins the running "
                "cluster (RAY_ADDRESS), host:port joins that one [env: SPLADEKIT_RAY].",
            ),
            click.option(
                "--workers", type=click.IntRange(min=1), default=1, show_default=True,
                help="Encoder actors on Ray, each loading the model once.",
            ),
            click.option(
                "--cpus-per-worker", type=click.FloatRange(min=0, min_open=True), default=None,
                help="CPUs each actor reserves (its torch threads) [default: the cluster's CPUs "
                "shared between the workers; 1 with GPUs].",
            ),
            click.option(
                "--gpus-per-worker", type=click.FloatRange(min=0), default=0.0,
                show_default=True,
                help="GPUs each actor reserves (fractions share one); above 0 it encodes on "
                "CUDA, in --precision.",
            ),
        ],
    )


def search_options(func: F) -> F:
    """-k/--hits, --filter, --drop-ratio-search, --mode, --fusion, --rrf-k, --weights.

    The command receives ``k`` and one ``options: SearchOptions`` argument.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..store import SearchOptions

        values = {name: kwargs.pop(name) for name in _SEARCH_OPTIONS}
        values["filter"] = values.pop("filter_expr")
        if values["weights"] is None:
            del values["weights"]
        return func(*args, options=SearchOptions(**values), **kwargs)

    decorated: Any = wrapper
    return apply(
        decorated,
        [
            click.option(
                "-k", "--hits", "k", type=click.IntRange(1, MAX_K), default=10,
                show_default=True, help="Hits per query.",
            ),
            click.option(
                "--filter", "filter_expr", default=None,
                help="Milvus expression on stored fields, e.g. 'metadata[\"year\"] > 2020'.",
            ),
            click.option(
                "--drop-ratio-search", type=click.FloatRange(0.0, 1.0, max_open=True),
                default=0.0, show_default=True,
                help="Ignore this fraction of each query's smallest weights (server only).",
            ),
            click.option(
                "--mode", type=click.Choice(SEARCH_MODES), default="splade", show_default=True,
                help="splade, bm25 (Milvus's BM25; collection indexed with --bm25), or hybrid.",
            ),
            *fusion_option_list(),
        ],
    )


def fusion_option_list() -> list[Callable[[F], F]]:
    """--fusion, --rrf-k, --weights: how a hybrid search fuses its legs."""
    return [
        click.option(
            "--fusion", type=click.Choice(FUSIONS), default="rrf", show_default=True,
            help="How hybrid fuses its legs: reciprocal ranks, or weighted scores.",
        ),
        click.option(
            "--rrf-k", type=click.IntRange(min=1), default=DEFAULT_RRF_K, show_default=True,
            help="RRF's constant: score = sum 1/(k + rank).",
        ),
        click.option(
            "--weights", callback=_weights, default=None, metavar="SPLADE,BM25",
            help="Weights of weighted fusion [default: 0.5,0.5].",
        ),
    ]


def with_bm25_options(func: F) -> F:
    """--bm25, --analyzer."""
    return apply(
        func,
        [
            click.option(
                "--bm25", is_flag=True,
                help="A new collection also gets Milvus's BM25 over the text (for --mode "
                "bm25/hybrid).",
            ),
            click.option(
                "--analyzer", default=None,
                help="Text analyzer of the BM25 field [default: standard on Milvus Lite, english "
                "on a server].",
            ),
        ],
    )


# -- output ----------------------------------------------------------------------------------


@contextmanager
def progress_bar(total: int | None, unit: str, enabled: bool) -> Iterator[Progress]:
    """A tqdm bar on stderr, or a no-op when disabled or the input is short."""
    if not enabled or (total is not None and total < PROGRESS_MIN):
        yield lambda n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True) as bar:
        yield bar.update


def quiet_option(help_text: str = "No progress bar or summary on stderr.") -> Callable[[F], F]:
    return click.option("--quiet", "-q", is_flag=True, help=help_text)


__all__ = [
    "DEBUG_ENV",
    "EncoderChoice",
    "allow_other_model_option",
    "chunk_size_option",
    "collection_option",
    "encoder_options",
    "fusion_option_list",
    "inverted_index_algo_option",
    "progress_bar",
    "quiet_option",
    "ray_options",
    "search_options",
    "store_config",
    "store_options",
    "with_bm25_options",
]
