"""Encoder options, declared once: :class:`EncoderConfig`.

``SpladeEncoder``, ``SpladeEmbeddingFunction``, the CLI and the service all take their encoder
settings from this one frozen dataclass; the CLI derives its choices from the ``Literal`` types.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self, get_args

from .errors import InputTypeError, InvalidArgumentError
from .validation import (
    choice,
    non_negative_number,
    optional_max_length,
    optional_positive_int,
    positive_int,
)

BackendName = str
"""A backend's registered name: ``torch`` and ``onnx`` built in (:func:`backend_names`)."""
Activation = Literal["relu", "log1p_relu"]
"""sentence-transformers' names: ``relu`` is ``log1p(relu(x))``, ``log1p_relu`` one more log1p."""
Precision = Literal["fp32", "bf16", "fp16", "int8", "int8-full"]
LongDocuments = Literal["truncate", "window"]

BACKENDS: tuple[BackendName, ...] = ("torch", "onnx")
"""The built-in backends; :func:`backend_names` adds those registered since."""
_BACKEND_NAMES: list[str] = list(BACKENDS)


def backend_names() -> tuple[str, ...]:
    """Every backend name an encoder accepts: the built-in ones, then registered ones."""
    return tuple(_BACKEND_NAMES)


def add_backend_name(name: str) -> None:
    """Accept ``name`` as a backend (called by :func:`spladekit.backends.register_backend`)."""
    if name not in _BACKEND_NAMES:
        _BACKEND_NAMES.append(name)


def remove_backend_name(name: str) -> None:
    """Stop accepting a registered backend name (the built-in ones stay)."""
    if name in _BACKEND_NAMES and name not in BACKENDS:
        _BACKEND_NAMES.remove(name)
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
LONG_DOCUMENT_MODES: tuple[LongDocuments, ...] = get_args(LongDocuments)
ACTIVATIONS: tuple[Activation, ...] = get_args(Activation)

Progress = Callable[[int], None]
"""A progress callback: called with the number of texts (or documents) just finished."""

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def check_device(device: object) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` (whether it exists is the backend's question)."""
    if not isinstance(device, str):
        raise InputTypeError(f"device must be a str such as 'cpu', got {type(device).__name__}")
    if not _DEVICE.match(device):
        raise InvalidArgumentError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return device


def cuda_index(device: str) -> int:
    """The CUDA device number of a checked ``cuda`` / ``cuda:N`` device (``cuda`` is 0)."""
    _, _, index = check_device(device).partition(":")
    return int(index) if index else 0


class OptionSet:
    """What every frozen dataclass of options shares (:class:`EncoderConfig`,
    :class:`~spladekit.store.config.StoreConfig`): its names, taking its keywords out of a
    mixed set, and validated copies."""

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The option names, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    @classmethod
    def split(
        cls, kwargs: Mapping[str, Any], base: Self | None = None
    ) -> tuple[Self, dict[str, Any]]:
        """(config from the option keywords over ``base``, the remaining keywords)."""
        names = set(cls.field_names())
        options = {k: v for k, v in kwargs.items() if k in names}
        rest = {k: v for k, v in kwargs.items() if k not in names}
        if base is not None:
            return dataclasses.replace(base, **options), rest  # type: ignore[type-var]
        return cls(**options), rest

    def replace(self, **changes: Any) -> Self:
        """A copy with some options changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


@dataclass(frozen=True)
class EncoderConfig(OptionSet):
    """How a :class:`~spladekit.SpladeEncoder` encodes.

    - ``device``: ``cpu``, ``cuda`` or ``cuda:N``.
    - ``batch_size``: texts per forward pass at most; ``max_tokens_per_batch``: tokens per
      forward pass at most (padding included), which bounds memory on long texts.
    - ``query_max_length`` / ``document_max_length``: tokens per text (default and ceiling:
      the model's limit, 512 for BERT).
    - ``threshold``: weights at or below it are dropped.
    - ``backend``: ``torch`` (exact) or ``onnx``; ``None`` picks ``onnx`` for an exported
      folder and ``torch`` otherwise. ``precision``: ``fp32``, ``bf16`` (CPUs with native bf16,
      CUDA), ``fp16`` (CUDA), ``int8`` (onnx, CPU: the MLM head in int8) or ``int8-full``
      (onnx, CPU: every linear layer in int8, the opt-in fast mode; docs/SPEED.md).
    - ``long_documents``: ``truncate`` at the model's limit, or ``window``: overlapping
      windows (``window_stride`` tokens apart; default: no overlap) max-pooled into one vector.
    - ``activation``: ``None`` takes the model folder's (``SpladePooling``'s
      ``activation_function``; ``relu`` = ``log1p(relu(x))`` for plain folders); ``relu`` or
      ``log1p_relu`` (``log1p(log1p(relu(x)))``, OpenSearch's v3 models) overrides it.
    """

    device: str = "cpu"
    batch_size: int = 32
    max_tokens_per_batch: int = 8192
    query_max_length: int | None = None
    document_max_length: int | None = None
    threshold: float = 0.0
    backend: BackendName | None = None
    precision: Precision = "fp32"
    long_documents: LongDocuments = "truncate"
    window_stride: int | None = None
    activation: Activation | None = None

    def __post_init__(self) -> None:
        check_device(self.device)
        positive_int("batch_size", self.batch_size)
        positive_int("max_tokens_per_batch", self.max_tokens_per_batch)
        for name in ("query_max_length", "document_max_length"):
            optional_max_length(name, getattr(self, name))
        optional_positive_int("window_stride", self.window_stride)
        object.__setattr__(self, "threshold", non_negative_number("threshold", self.threshold))
        if self.backend is not None:
            choice("backend", self.backend, backend_names())
        choice("precision", self.precision, PRECISIONS)
        choice("long_documents", self.long_documents, LONG_DOCUMENT_MODES)
        if self.activation is not None:
            choice("activation", self.activation, ACTIVATIONS)



__all__ = [
    "ACTIVATIONS",
    "BACKENDS",
    "LONG_DOCUMENT_MODES",
    "PRECISIONS",
    "Activation",
    "BackendName",
    "EncoderConfig",
    "LongDocuments",
    "OptionSet",
    "Precision",
    "Progress",
    "add_backend_name",
    "backend_names",
    "check_device",
    "cuda_index",
    "remove_backend_name",
]
