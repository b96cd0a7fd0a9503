"""The CPU a benchmark ran on, for its header: the model name and the notable SIMD flags."""

from __future__ import annotations

from spladekit.backends.cpu import cpu_flags

NOTABLE_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_summary() -> str:
    """The CPU model and its notable SIMD flags (bench/ is sys.path[0] for the scripts here)."""
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
