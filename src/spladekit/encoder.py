"""SpladeEncoder: tokenise, sort and batch, run a route, prune, return :class:`SparseVectors`.

A model has a query route and a document route (:mod:`spladekit.routes`), read from its folder
(:mod:`spladekit.checkpoint`): one shared masked-LM for most SPLADE models, two for query/document
pairs, or an inference-free lookup for queries. ``encode_queries`` runs the query route,
``encode_documents`` and ``encode`` the document route.

Thread safety: an encoder holds only read-only state after construction (tokenizer copies,
backend weights, options). Any number of threads may encode with one encoder at once; each
call's statistics come back from that call (:meth:`SpladeEncoder.encode_with_stats`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .backends import Backend
from .checkpoint.description import (
    ModelDescription,
    family_of,
    finetune_record,
    licence_of,
)
from .checkpoint.identity import ModelIdentity, spec_fingerprint
from .checkpoint.known import DEFAULT_MODEL
from .checkpoint.loading import (
    load_tokenizer,
    precision_from_dtype,
    resolve_model_dir,
    split_load_kwargs,
)
from .checkpoint.reader import read_spec
from .checkpoint.spec import ModelSpec, RouteSpec, Side
from .encoding import Encoded, EncodeStats, Tokenized
from .errors import InvalidArgumentError, UnsupportedModelError
from .options import EncoderConfig, Progress
from .profiles import EncodingProfile, ProfileName, encoding_profiles
from .routes import Route, build_route
from .tokenize import TRUNCATIONS, Truncation
from .validation import (
    choice,
    non_negative_number,
    optional_max_length,
    optional_positive_int,
    string,
    text_list,
)
from .vectors import SparseVectors, decode_rows, stack_arrays

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

SIDES: tuple[Side, ...] = ("query", "document")


class SpladeEncoder:
    """Turns texts into SPLADE vectors: 2-D float32 :class:`SparseVectors` of (n, vocab size).

    Vectors do not depend on batch composition (padding is masked out of the pooling), and
    texts are sorted by length and batched under a token budget, then returned in input order.
    The folder is read as sentence-transformers reads it (``modules.json``, ``Router``,
    ``SpladePooling``, prompts, ``max_active_dims``, OpenSearch's ``idf.json``); what spladekit
    cannot run is refused by name. Options are :class:`~spladekit.options.EncoderConfig`'s,
    given as ``config`` or as keywords (``device=``, ``batch_size=``...); other keywords go to
    model loading (``revision``, ``token``, ``cache_dir``, ``local_files_only``, ``dtype``...).
    """

    def __init__(
        self,
        model_name_or_path: str | os.PathLike[str] = DEFAULT_MODEL,
        config: EncoderConfig | None = None,
        **kwargs: Any,
    ) -> None:
        config, load_kwargs = EncoderConfig.split(kwargs, base=config)
        hub_kwargs, model_kwargs = split_load_kwargs(load_kwargs)
        config = _apply_dtype(config, model_kwargs)
        self.model_name = os.fspath(model_name_or_path)
        self.model_dir: Path = resolve_model_dir(model_name_or_path, **hub_kwargs)
        self.spec: ModelSpec = read_spec(self.model_dir, activation=config.activation)
        tokenizers: dict[Path, PreTrainedTokenizerBase] = {}
        document = _build_route(self.spec.document, config, model_kwargs, tokenizers)
        query = (
            document if self.spec.symmetric
            else _build_route(self.spec.query, config, model_kwargs, tokenizers)
        )
        if query.vocab_size != document.vocab_size:
            raise UnsupportedModelError(
                f"{str(self.model_dir)!r}: the query route's vocabulary has {query.vocab_size} "
                f"entries and the document route's {document.vocab_size}; both sides of a model "
                "must share one vocabulary"
            )
        self.routes: dict[Side, Route] = {"query": query, "document": document}
        runner = document if document.runs_model else query
        backend = runner.backend_name if runner.runs_model else config.backend
        self.config = config.replace(backend=backend)
        self.model_identity = ModelIdentity(self.model_name, spec_fingerprint(self.spec))
        self.model_max_length = document.max_length
        self.query_max_length = _capped(config.query_max_length, query.max_length)
        self.document_max_length = _capped(config.document_max_length, document.max_length)
        self.vocabulary: list[str] = _vocabulary(document.tokenizer, self.dim)
        self._prompts: dict[Side, str] = {side: self.spec.prompt(side) for side in SIDES}

    # Shortcuts to the options and the document route, read-only.
    @property
    def backend_name(self) -> str:
        return str(self.config.backend)

    @property
    def precision(self) -> str:
        return self.config.precision

    @property
    def device(self) -> str:
        return self.config.device

    @property
    def backend(self) -> Backend | None:
        """The document route's backend (``None`` for an inference-free document side)."""
        return self.routes["document"].backend

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The document route's tokenizer."""
        return self.routes["document"].tokenizer

    @property
    def dim(self) -> int:
        """Width of every vector: the model's vocabulary size (30522 for BERT uncased)."""
        return self.routes["document"].vocab_size

    @property
    def default_top_k(self) -> int | None:
        """The model's ``max_active_dims`` (sentence-transformers' output top-k), if it has one."""
        return self.spec.max_active_dims

    @property
    def description(self) -> ModelDescription:
        """What this model is and how it runs: family, backbone, routes, pooling, lengths."""
        lengths: dict[Side, int] = {
            "query": self.query_max_length, "document": self.document_max_length
        }
        sides: tuple[Side, ...] = ("document",) if self.spec.symmetric else SIDES
        return ModelDescription(
            name=self.model_name,
            family=family_of(self.spec),
            layout=self.spec.layout,
            vocabulary=self.dim,
            shared_route=self.spec.symmetric,
            routes=tuple(
                self.spec.routes()[side].describe(
                    side, backend=self.routes[side].backend_name, max_length=lengths[side],
                )
                for side in sides
            ),
            prompts=dict(self.spec.prompts),
            top_k=self.default_top_k,
            licence=licence_of(self.model_name, self.model_dir),
            fingerprint=self.model_identity.fingerprint,
            finetuned=finetune_record(self.model_dir),
        )

    def prompt(self, side: Side) -> str:
        """The prompt the model's folder gives this side ("" for none)."""
        prompt = self._prompts.get(side)
        return prompt if prompt is not None else self.spec.prompt(choice("side", side, SIDES))

    def profiles(
        self,
        *,
        query_instruction: str = "",
        doc_instruction: str = "",
        k_tokens_query: int | None = None,
        k_tokens_document: int | None = None,
    ) -> dict[ProfileName, EncodingProfile]:
        """The ``plain``, ``query`` and ``document`` profiles of this model with these options
        (:func:`~spladekit.profiles.encoding_profiles`: an empty instruction means the folder's
        prompt)."""
        return encoding_profiles(
            self,
            query_instruction=string("query_instruction", query_instruction),
            doc_instruction=string("doc_instruction", doc_instruction),
            k_tokens_query=optional_positive_int("k_tokens_query", k_tokens_query),
            k_tokens_document=optional_positive_int("k_tokens_document", k_tokens_document),
        )

    def encode_documents(
        self,
        texts: Sequence[str],
        *,
        top_k: int | None = None,
        prompt: str | None = None,
        progress: Progress | None = None,
    ) -> SparseVectors:
        """Encode documents on the document route, with the model's document prompt.

        ``prompt`` replaces the folder's document prompt ("" for none).
        """
        profile = self._adjusted(encoding_profiles(self)["document"], top_k, prompt)
        return self.encode_profile(texts, profile, progress=progress).vectors

    def encode_queries(
        self,
        texts: Sequence[str],
        *,
        top_k: int | None = None,
        prompt: str | None = None,
        progress: Progress | None = None,
    ) -> SparseVectors:
        """Encode queries on the query route, with the model's query prompt.

        ``prompt`` replaces the folder's query prompt ("" for none).
        """
        profile = self._adjusted(encoding_profiles(self)["query"], top_k, prompt)
        return self.encode_profile(texts, profile, progress=progress).vectors

    def encode(
        self,
        texts: Sequence[str],
        *,
        side: Side = "document",
        max_length: int | None = None,
        top_k: int | None = None,
        threshold: float | None = None,
        prefix: str = "",
        truncation: Truncation = "right",
        progress: Progress | None = None,
    ) -> SparseVectors:
        """Encode texts into a (len(texts), dim) float32 :class:`SparseVectors`, in input order.

        ``side`` picks the route (``document`` by default, ``query``). ``top_k`` keeps at most
        that many of the largest weights per text (default: the model's ``max_active_dims``);
        ``threshold`` drops weights at or below it (default: the encoder's); ``prefix`` is
        prepended to each text (no prompt is added here). ``truncation`` says what happens to a
        text over ``max_length`` tokens: ``right`` keeps its first tokens, ``left`` its last
        ones, ``error`` refuses it (``long_documents="window"`` never truncates).
        """
        return self.encode_with_stats(
            texts, side=side, max_length=max_length, top_k=top_k, threshold=threshold,
            prefix=prefix, truncation=truncation, progress=progress,
        ).vectors

    def encode_with_stats(
        self,
        texts: Sequence[str],
        *,
        side: Side = "document",
        max_length: int | None = None,
        top_k: int | None = None,
        threshold: float | None = None,
        prefix: str = "",
        truncation: Truncation = "right",
        progress: Progress | None = None,
    ) -> Encoded:
        """:meth:`encode`, with what the call did (texts truncated, windows, tokens)."""
        profile = self.custom_profile(
            side=side, max_length=max_length, top_k=top_k, threshold=threshold, prefix=prefix
        )
        return self.encode_profile(texts, profile, truncation=truncation, progress=progress)

    def custom_profile(
        self,
        *,
        side: Side = "document",
        max_length: int | None = None,
        top_k: int | None = None,
        threshold: float | None = None,
        prefix: str = "",
    ) -> EncodingProfile:
        """A profile of :meth:`encode`'s options, checked (``None``: the model's defaults)."""
        route = self.routes[choice("side", side, SIDES)]
        limit = _capped(optional_max_length("max_length", max_length), route.max_length)
        return EncodingProfile(
            side, side, string("prefix", prefix), limit,
            optional_positive_int("top_k", top_k),
            None if threshold is None else non_negative_number("threshold", threshold),
        )

    def encode_profile(
        self,
        texts: Sequence[str],
        profile: EncodingProfile,
        *,
        truncation: Truncation = "right",
        progress: Progress | None = None,
        what: str = "texts",
    ) -> Encoded:
        """Encode texts as ``profile`` says (:meth:`profiles`): its route, instruction, token
        limit, top-k and threshold. ``what`` names the texts in errors (``queries``...)."""
        return self.encode_tokenized(
            self.tokenize(texts, profile, truncation=truncation, what=what), progress=progress
        )

    def tokenize(
        self,
        texts: Sequence[str],
        profile: EncodingProfile,
        *,
        truncation: Truncation = "right",
        what: str = "texts",
    ) -> Tokenized:
        """The token ids ``profile``'s route will run for each text (its instruction
        prepended), checked and cut as ``truncation`` says; :meth:`encode_tokenized` encodes
        them. A service tokenises each text once this way: the counts budget its batches, and
        the ids are what it encodes."""
        if not isinstance(profile, EncodingProfile):
            raise InvalidArgumentError(
                f"profile must be an EncodingProfile (see SpladeEncoder.profiles), got "
                f"{type(profile).__name__}"
            )
        items = text_list(texts, what)
        choice("truncation", truncation, TRUNCATIONS)
        if profile.instruction:
            items = [profile.instruction + text for text in items]
        route = self.routes[profile.side]
        return Tokenized(profile, route.tokenize(items, profile.max_length, truncation))

    def encode_tokenized(
        self, tokenized: Tokenized, *, progress: Progress | None = None
    ) -> Encoded:
        """Encode what :meth:`tokenize` made (whole, or sliced and joined across calls)."""
        profile = tokenized.profile
        tokens = tokenized.tokens
        if not len(tokens):
            return Encoded(stack_arrays([], self.dim), EncodeStats(0, 0, 0, 0))
        top_k = profile.top_k if profile.top_k is not None else self.default_top_k
        threshold = self.config.threshold if profile.threshold is None else profile.threshold
        rows, stats = self.routes[profile.side].encode_tokens(tokens, top_k, threshold, progress)
        return Encoded(
            stack_arrays(rows, self.dim),
            EncodeStats(len(tokens), stats.sequences, stats.truncated, stats.tokens),
        )

    def count_tokens(
        self,
        texts: Sequence[str],
        *,
        side: Side = "document",
        max_length: int | None = None,
        prefix: str = "",
        truncation: Truncation = "right",
    ) -> list[int]:
        """How many tokens each text feeds the route, [CLS] and [SEP] included.

        Counted as :meth:`encode` with the same arguments would cut the text (all windows'
        tokens with ``long_documents="window"``); ``truncation="error"`` raises the same
        :class:`~spladekit.errors.InvalidArgumentError` for a text over the limit.
        """
        profile = self.custom_profile(side=side, max_length=max_length, prefix=prefix)
        return self.tokenize(texts, profile, truncation=truncation).tokens.counts

    def decode(self, vectors: object, top_k: int | None = None) -> list[list[tuple[str, float]]]:
        """(token, weight) pairs per row, heaviest first: what each vector means."""
        return decode_rows(vectors, self.vocabulary, top_k)

    # -- internals -------------------------------------------------------------------------

    @staticmethod
    def _adjusted(
        profile: EncodingProfile, top_k: int | None, prompt: str | None
    ) -> EncodingProfile:
        """``profile`` with the caller's top-k (``None``: the model's) and prompt."""
        return replace(
            profile,
            top_k=optional_positive_int("top_k", top_k),
            instruction=profile.instruction if prompt is None else string("prompt", prompt),
        )


def _build_route(
    spec: RouteSpec,
    config: EncoderConfig,
    model_kwargs: dict[str, Any],
    tokenizers: dict[Path, PreTrainedTokenizerBase],
) -> Route:
    # Both sides of an idf.json folder read one tokenizer: it is loaded once.
    if spec.folder not in tokenizers:
        tokenizers[spec.folder] = load_tokenizer(spec.folder)
    return build_route(spec, tokenizers[spec.folder], config, model_kwargs)


def _capped(wanted: int | None, limit: int) -> int:
    return min(wanted or limit, limit)


def _apply_dtype(config: EncoderConfig, model_kwargs: dict[str, Any]) -> EncoderConfig:
    """Honour a ``dtype`` loading argument as the precision it names, or refuse a conflict."""
    if "dtype" not in model_kwargs:
        return config
    wanted = precision_from_dtype(model_kwargs["dtype"])
    if config.precision not in ("fp32", wanted):
        raise InvalidArgumentError(
            f"dtype={model_kwargs['dtype']!r} and precision={config.precision!r} disagree; "
            "give one of them"
        )
    # The backend converts the model; loading it in fp32 first keeps one code path.
    del model_kwargs["dtype"]
    return config.replace(precision=wanted)


def _vocabulary(tokenizer: PreTrainedTokenizerBase, dim: int) -> list[str]:
    tokens = [""] * dim
    for token, index in tokenizer.get_vocab().items():
        if 0 <= index < dim:
            tokens[index] = token
    return tokens


__all__ = ["SIDES", "SpladeEncoder"]
