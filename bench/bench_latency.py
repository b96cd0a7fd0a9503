"""Single-query encoding latency (p50/p99), the latency users feel in search.

    .venv/bin/python bench/bench_latency.py [--model DIR] [--n 300] [--modes torch-fp32,onnx-fp32]

Encodes SciFact test queries one at a time (batch of one, as a search box would) after a
warm-up, and prints p50/p99/mean in milliseconds per mode.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

TINY = Path.home() / ".cache" / "spladekit" / "models" / "splade-tiny"
SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"

MODES: dict[str, dict[str, Any]] = {
    "torch-fp32": {"backend": "torch", "precision": "fp32"},
    "onnx-fp32": {"backend": "onnx", "precision": "fp32"},
    "onnx-int8": {"backend": "onnx", "precision": "int8"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(TINY))
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--modes", default="torch-fp32")
    args = parser.parse_args()

    from spladekit import SpladeEncoder

    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as handle:
        queries = [json.loads(line)["text"] for line in handle][: args.n]
    print(f"{len(queries)} SciFact queries, one per call, model {args.model}")
    print(f"{'mode':<12} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for mode in args.modes.split(","):
        encoder = SpladeEncoder(args.model, **MODES[mode])
        for query in queries[:20]:  # warm-up: first calls pay one-off allocations
            encoder.encode_queries([query])
        times = []
        for query in queries:
            start = time.perf_counter()
            encoder.encode_queries([query])
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
        print(
            f"{mode:<12} {statistics.median(times):8.2f} {p99:8.2f} {statistics.fmean(times):8.2f}"
        )


if __name__ == "__main__":
    main()
