"""Issue 15's GPU check: BERT-base documents/s through SpladeEncoder on one GPU (no Ray).

    bash bench/gpu_check.sh [--n 20000] [--out FILE]        # on a machine with one CUDA GPU
    python bench/gpu_check.py --cpu-smoke --n 16             # the same code on a CPU

Builds the random BERT-base masked-LM with a synthetic tokenizer (make_random_model.py
--synthetic-tokenizer: no tokenizer files or network needed), draws N synthetic documents whose
token lengths follow SciFact's (gpu_ray_check.synthetic_corpus), then for fp32, fp16 and bf16
encodes them with ``SpladeEncoder(model, device="cuda", precision=...)`` at its defaults, which on a
GPU are the device's batch shape (65,536 tokens, 512 texts per pass) and the device path (pooling,
activation and pruning on the GPU, only non-zeros copied back). Prints docs/s after a warm-up pass
and fp16/bf16 against fp32 (cosine, max |diff|, top-10 terms kept), and GPU fp32 against CPU fp32 on
16 documents (both ``_common.parity``). Target (issue 15): >= 3,000 docs/s on an H100-class GPU,
fp16 within the tolerances measured before (cosine >= 0.999). JSON to $OUT/gpu_check.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import cpu_summary, parity
from gpu_ray_check import rounded, synthetic_corpus

TARGET_DOCS_PER_S = 3000.0


def encode(model: Path, texts: list[str], device: str, precision: str) -> tuple[Any, float]:
    import torch

    from spladekit import SpladeEncoder

    encoder = SpladeEncoder(model, device=device, precision=precision)  # type: ignore[arg-type]
    encoder.encode_documents(texts[: min(len(texts), 1024)])  # warm-up: kernels, allocator
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    vectors = encoder.encode_documents(texts)
    seconds = time.perf_counter() - start
    return vectors, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--cpu-smoke", action="store_true", help="fp32 on the CPU, a few docs")
    args = parser.parse_args()
    import make_random_model
    import torch

    device = "cpu" if args.cpu_smoke else "cuda"
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "none (cpu smoke run)"
    print(f"GPU: {gpu}; CPU: {cpu_summary()}; torch {torch.__version__}", flush=True)
    results: dict[str, Any] = {"gpu": gpu, "cpu": cpu_summary(), "n": args.n, "runs": []}
    with tempfile.TemporaryDirectory(prefix="spladekit-gpu-") as tmp:
        work = Path(tmp)
        model = work / "bert-base-random"
        make_random_model.build(model, None, seed=0, head_bias=-2.2)
        texts = synthetic_corpus(work / "corpus.jsonl", args.n, args.seed)
        precisions = ["fp32"] if args.cpu_smoke else ["fp32", "fp16", "bf16"]
        vectors: dict[str, Any] = {}
        for precision in precisions:
            found, seconds = encode(model, texts, device, precision)
            vectors[precision] = found
            run = {"precision": precision, "seconds": round(seconds, 2),
                   "docs_per_s": round(len(texts) / seconds, 1),
                   "nnz_per_doc": round(found.nnz / len(texts), 1)}
            if precision != "fp32":
                run["against_fp32"] = rounded(parity(vectors["fp32"], found))
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
        if not args.cpu_smoke:
            from spladekit import SpladeEncoder

            cpu = SpladeEncoder(model, device="cpu").encode_documents(texts[:16])
            results["gpu_fp32_vs_cpu_fp32"] = rounded(parity(cpu, vectors["fp32"][:16]))
            print("gpu fp32 vs cpu fp32:", json.dumps(results["gpu_fp32_vs_cpu_fp32"]))
    best = max(r["docs_per_s"] for r in results["runs"])
    results["target"] = {"docs_per_s": TARGET_DOCS_PER_S, "best": best,
                         "met": bool(best >= TARGET_DOCS_PER_S and not args.cpu_smoke)}
    print(f"target >= {TARGET_DOCS_PER_S:.0f} BERT-base docs/s: "
          f"{'met' if results['target']['met'] else 'MISSED'} (best {best:.1f} docs/s)")
    out = args.out or (Path(os.environ["OUT"]) / "gpu_check.json" if "OUT" in os.environ else None)
    if out is not None:
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
