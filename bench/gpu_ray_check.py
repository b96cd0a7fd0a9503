"""GPU check of the Ray path: one GPU actor, a BERT-base-shaped model, fp32 against fp16 and bf16.

    bash bench/gpu_ray_check.sh                       # installs what is missing, then runs this
    python bench/gpu_ray_check.py [--n 20000] [--out results.json]

Needs one NVIDIA GPU, CUDA torch, and spladekit's Ray dependencies (bench/README.md lists the
wheels); nothing is downloaded. In order:

1. a random BERT-base masked-LM (12 layers, hidden 768, vocab 30522: naver's SPLADE shape) with a
   synthetic WordPiece tokenizer, built by bench/make_random_model.py in a temporary folder;
2. N synthetic documents whose token lengths follow SciFact's (title + text with the BERT
   tokenizer, measured on all 5,183 documents: mean 327 tokens after truncation at 512, median
   316, 8.8% longer than 512); each word of the synthetic vocabulary is one token;
3. for fp32, fp16 and bf16: ``encode_on_ray`` with one actor holding the GPU (workers=1,
   gpus_per_worker=1) into Parquet files. Reported: the job's wall time (Ray start and model
   load included) and the steady rate (documents between the first and the last progress report
   over the time between them, i.e. without startup);
4. parity of fp16 and bf16 against fp32, document by document (``_common.parity``): cosine
   similarity, largest absolute weight difference, share of fp32's 10 heaviest terms that are
   among their own 10 heaviest; and fp32 on the GPU against fp32 on the CPU for 16 documents.

Prints a table and writes everything as JSON to --out (default: $OUT/gpu_ray_check.json when
$OUT is set, else gpu_ray_check.json here).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import make_random_model
import numpy as np
from _common import SteadyRate, parity, quiet_ray
from scipy.sparse import csr_array

# SciFact's token lengths (BERT uncased, [CLS] and [SEP] included, truncated at 512): documents
# per bin, measured once on its 5,183 documents. Texts are drawn bin by bin, uniformly inside.
LENGTH_BINS = [(3, 64), (64, 128), (128, 192), (192, 256), (256, 320), (320, 384), (384, 448),
               (448, 513)]
LENGTH_COUNTS = [0, 106, 453, 914, 1177, 908, 717, 908]
PRECISIONS = ("fp32", "fp16", "bf16")


def synthetic_corpus(path: Path, n: int, seed: int) -> list[str]:
    """Write ``n`` documents of synthetic words as JSON lines; return their texts."""
    rng = random.Random(seed)
    words = make_random_model.synthetic_words()
    texts = []
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            low, high = rng.choices(LENGTH_BINS, weights=LENGTH_COUNTS)[0]
            tokens = rng.randrange(low, high) - 2  # [CLS] and [SEP] count in the length
            text = " ".join(rng.choice(words) for _ in range(max(1, tokens)))
            texts.append(text)
            handle.write(json.dumps({"id": str(i), "text": text}) + "\n")
    return texts


def run_precision(
    corpus: Path, model: Path, out: Path, precision: str, batch_size: int, num_gpus: int,
    cpus: float,
) -> dict[str, Any]:
    """One ``encode_on_ray`` job (one actor with one GPU; on CPU when ``num_gpus`` is 0)."""
    from spladekit import EncoderConfig, RayOptions, encode_on_ray

    progress = SteadyRate()
    options = RayOptions(
        workers=1, gpus_per_worker=1 if num_gpus else 0, num_gpus=num_gpus, cpus_per_worker=cpus,
        init_kwargs=quiet_ray(),
    )
    report = encode_on_ray(
        [str(corpus)], out, model=model,
        config=EncoderConfig(precision=precision, batch_size=batch_size),  # type: ignore[arg-type]
        ray_options=options, progress=progress,
    )
    steady = progress.docs_per_s() or 0.0
    return {
        "precision": precision,
        "documents": report.encoded,
        "job_seconds": round(report.seconds, 2),
        "job_docs_per_s": round(report.documents_per_second, 1),
        "steady_docs_per_s": round(steady, 1),
    }


def read_vectors(folder: Path, ids: list[str], dim: int) -> csr_array:
    """The Parquet files' vectors as one (len(ids), dim) matrix, rows in ``ids`` order."""
    import pyarrow.parquet as pq

    table = pq.read_table(folder, columns=["id", "vector"])
    row_of = {doc_id: row for row, doc_id in enumerate(table.column("id").to_pylist())}
    vectors = table.column("vector").to_pylist()
    indptr, indices, values = [0], [], []
    for doc_id in ids:
        vector = vectors[row_of[doc_id]]
        indices.extend(vector["indices"])
        values.extend(vector["values"])
        indptr.append(len(indices))
    return csr_array(
        (np.asarray(values, np.float32), np.asarray(indices, np.int64), np.asarray(indptr)),
        shape=(len(ids), dim),
    )


def rounded(found: dict[str, float]) -> dict[str, float]:
    """``_common.parity``'s figures, rounded for the JSON file (6 decimals)."""
    return {key: round(value, 6) for key, value in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="Documents (default 20,000).")
    parser.add_argument("--batch-size", type=int, default=64, help="Texts per forward pass.")
    parser.add_argument(
        "--cpus", type=float, default=1.0, help="CPUs of the GPU actor (tokenising; default 1)."
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--cpu-smoke", action="store_true",
        help="Check the script itself without a GPU: fp32 on CPU only (use a small --n).",
    )
    args = parser.parse_args()
    out_path = args.out or Path(os.environ.get("OUT", ".")) / "gpu_ray_check.json"

    import torch

    precisions = ("fp32",) if args.cpu_smoke else PRECISIONS
    if not args.cpu_smoke and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible to torch: this check needs one")
    started = time.perf_counter()
    result: dict[str, Any] = {
        "gpu": "none (--cpu-smoke)" if args.cpu_smoke else torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "documents": args.n,
        "batch_size": args.batch_size,
        "actor_cpus": args.cpus,
    }
    # A local cluster on loopback (read when Ray is first imported), and a quiet one.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    import transformers

    quiet_ray()
    result["ray"], result["transformers"] = ray.__version__, transformers.__version__
    with tempfile.TemporaryDirectory(prefix="gpu-ray-check-") as tmp:
        work = Path(tmp)
        model = work / "bert-base-random"
        t0 = time.perf_counter()
        make_random_model.build(model, None, seed=0, head_bias=-2.2)
        result["model_build_seconds"] = round(time.perf_counter() - t0, 1)
        corpus = work / "corpus.jsonl"
        texts = synthetic_corpus(corpus, args.n, args.seed)
        runs = []
        for precision in precisions:
            run = run_precision(
                corpus, model, work / precision, precision, args.batch_size,
                0 if args.cpu_smoke else torch.cuda.device_count(), args.cpus,
            )
            runs.append(run)
            print(json.dumps(run), flush=True)
        result["runs"] = runs
        ids = [str(i) for i in range(len(texts))]
        dim = make_random_model.VOCAB_SIZE
        vectors = {p: read_vectors(work / p, ids, dim) for p in precisions}
        # In a CPU smoke run fp32 is compared with itself: the code runs, the numbers are 1/0.
        result["parity_vs_fp32"] = {
            p: rounded(parity(vectors["fp32"], vectors[p])) for p in (precisions[1:] or precisions)
        }
        from spladekit import SpladeEncoder

        head = texts[: min(16, len(texts))]
        cpu = SpladeEncoder(model, device="cpu").encode_documents(head)
        result["gpu_fp32_vs_cpu_fp32"] = rounded(parity(cpu, vectors["fp32"][: len(head)]))
        result["nnz_per_doc_fp32"] = round(vectors["fp32"].nnz / len(ids), 1)
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1))

    print(f"\n{result['gpu']}, torch {result['torch']} (CUDA {result['cuda']}), ray "
          f"{result['ray']}; {args.n} synthetic documents of SciFact's lengths, batch "
          f"{args.batch_size}, one GPU actor")
    print(f"{'precision':<10}{'job s':>8}{'job docs/s':>12}{'steady docs/s':>15}"
          f"{'cosine mean/min':>20}{'max |diff|':>12}{'top-10 kept':>13}")
    for run in runs:
        p = run["precision"]
        par = result["parity_vs_fp32"].get(p)
        cos = f"{par['cosine_mean']:.6f}/{par['cosine_min']:.4f}" if par else "(reference)"
        diff = f"{par['max_abs_diff']:.4f}" if par else ""
        kept = f"{par['top10_kept_mean']:.3f}" if par else ""
        print(f"{p:<10}{run['job_seconds']:>8.1f}{run['job_docs_per_s']:>12.1f}"
              f"{run['steady_docs_per_s']:>15.1f}{cos:>20}{diff:>12}{kept:>13}")
    sanity = result["gpu_fp32_vs_cpu_fp32"]
    print(f"GPU fp32 vs CPU fp32 on {sanity['rows']} documents: max |diff| "
          f"{sanity['max_abs_diff']}, same non-zero terms {sanity['same_nonzero_set']:.0%}")
    print(f"nnz per document (fp32): {result['nnz_per_doc_fp32']}; total "
          f"{result['total_seconds']} s; JSON in {out_path}")


if __name__ == "__main__":
    main()
