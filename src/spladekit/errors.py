"""The exceptions spladekit raises; every one derives from :class:`SpladeError`."""

from __future__ import annotations


class SpladeError(Exception):
    """Base class of every error raised by spladekit."""


class InputTypeError(SpladeError, TypeError):
    """An argument has the wrong type (say a bare ``str`` where a list of texts is expected)."""


class InvalidArgumentError(SpladeError, ValueError):
    """An argument has the right type but a value that cannot be used."""


class ModelNotAvailableError(SpladeError, OSError):
    """A model could not be found locally and could not be downloaded."""


class UnsupportedModelError(SpladeError, ValueError):
    """A checkpoint was found but is not a masked-LM that SPLADE pooling can use."""


class MissingDependencyError(SpladeError, ImportError):
    """An optional dependency is not installed; the message carries the install command."""


class StoreError(SpladeError):
    """A Milvus operation failed; the message says which and what to do."""


__all__ = [
    "InputTypeError",
    "InvalidArgumentError",
    "MissingDependencyError",
    "ModelNotAvailableError",
    "SpladeError",
    "StoreError",
    "UnsupportedModelError",
]
