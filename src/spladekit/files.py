"""Files spladekit writes, written so that a failure never leaves a half-written or emptied
target: the content goes to a temporary file beside the target, which replaces the target only
once it is complete (``os.replace``: atomic on one file system)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import InvalidArgumentError


@contextlib.contextmanager
def atomic_text(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """A text handle whose content becomes ``path`` when the block ends without an error
    (``-``: standard output, written as it comes). On an error the target is left as it was."""
    if os.fspath(path) == "-":
        yield sys.stdout
        return
    target = Path(path)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def refuse_same_file(output: str | os.PathLike[str], inputs: list[str], option: str) -> None:
    """Refuse an output that is one of the inputs (links resolved): writing it would destroy
    the input it is made from."""
    if os.fspath(output) == "-":
        return
    out = Path(output).resolve()
    for name in inputs:
        if name != "-" and Path(name).resolve() == out:
            raise InvalidArgumentError(
                f"{option} {os.fspath(output)!r} is the input file {name!r}; writing it would "
                "destroy the input: write to another file"
            )


__all__ = ["atomic_text", "refuse_same_file"]
