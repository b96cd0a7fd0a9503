"""Returning freed heap pages to the operating system (glibc's ``malloc_trim``), where it exists."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
        return None
    return trim


_MALLOC_TRIM = _load_malloc_trim() if sys.platform.startswith("linux") else None


def release_free_memory() -> None:
    """Hand freed heap pages back to the OS between batches.

    Batches of different shapes leave holes in glibc's heap that later, differently sized
    allocations cannot reuse; returning them keeps peak RSS close to the working set.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


__all__ = ["release_free_memory"]
