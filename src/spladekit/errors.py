"""The exceptions spladekit raises; every one derives from :class:`SpladeError`.

Value problems are also ``ValueError``s and type problems ``TypeError``s, so code written for
the standard exceptions catches them too.
"""

from __future__ import annotations


class SpladeError(Exception):
    """Base class of every error raised by spladekit."""


class InputTypeError(SpladeError, TypeError):
    """An argument has the wrong type (say a bare ``str`` where a list of texts is expected)."""


class InvalidArgumentError(SpladeError, ValueError):
    """An argument has the right type but a value that cannot be used."""


class MalformedVectorsError(InvalidArgumentError):
    """Serialised vectors (TEI's JSON) are not what their format says.

    ``expected`` names what was expected, ``got`` is the part that was not it, and ``index`` is
    the index outside the vectors' width when that was the fault.
    """

    def __init__(self, message: str, expected: str, got: object, index: int | None = None):
        super().__init__(message)
        self.expected = expected
        self.got = got
        self.index = index


class ModelNotAvailableError(SpladeError, OSError):
    """A model could not be found locally and could not be downloaded."""


class UnsupportedModelError(SpladeError, ValueError):
    """A checkpoint was found but is not a masked-LM that SPLADE pooling can use."""


class BrokenCheckpointError(UnsupportedModelError):
    """A checkpoint's files are damaged or disagree with each other (a tokenizer that cannot be
    read or does not cover the model's vocabulary, weights that do not cover the architecture,
    absurd shapes, pickle-only weights, a path that leaves the folder); the message names the
    file."""


class MissingDependencyError(SpladeError, ImportError):
    """An optional dependency is not installed; the message carries the install command."""


class StoreError(SpladeError):
    """A Milvus operation failed; the message says which and what to do."""


class ModelMismatchError(StoreError, ValueError):
    """A collection built with one model was asked to take or search vectors of another."""


class ClusterError(SpladeError):
    """A Ray cluster could not be started or reached, or a distributed job failed."""


class ServiceError(SpladeError):
    """A spladekit (or TEI) service could not be reached or answered with an error."""



def one_line(message: object) -> str:
    """A message on one line: its non-blank lines, stripped, joined by spaces (Milvus draws a
    caret under an expression over several lines; spladekit's errors and the CLI's are one
    line)."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def first_line(message: object, empty: str = "") -> str:
    """A message's first line, stripped (``empty`` when it has none): for errors whose later
    lines are a traceback."""
    text = str(message).strip()
    return text.splitlines()[0].strip() if text else empty

__all__ = [
    "BrokenCheckpointError",
    "ClusterError",
    "InputTypeError",
    "InvalidArgumentError",
    "MalformedVectorsError",
    "MissingDependencyError",
    "ModelMismatchError",
    "ModelNotAvailableError",
    "ServiceError",
    "SpladeError",
    "StoreError",
    "UnsupportedModelError",
    "first_line",
    "one_line",
]
