"""What this CPU can do, read at run time: machines differ (AVX2 only, AVX-512 with VNNI/BF16)."""

from __future__ import annotations

import functools


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them in /proc/cpuinfo (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16() -> bool:
    """Whether the CPU has native bf16 matrix instructions."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


__all__ = ["cpu_flags", "cpu_has_bf16"]
