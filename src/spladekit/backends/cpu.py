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


NOTABLE_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_summary() -> str:
    """The CPU model and its notable SIMD flags, for benchmark headers."""
    name = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    flags = [f for f in NOTABLE_FLAGS if f in cpu_flags()]
    return f"{name}; flags: {' '.join(flags) or 'none of ' + ', '.join(NOTABLE_FLAGS)}"


__all__ = ["NOTABLE_FLAGS", "cpu_flags", "cpu_has_bf16", "cpu_summary"]
