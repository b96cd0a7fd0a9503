"""One side of the encode benchmark, run in a fresh process so that its peak RSS is its own.

As a script it is the reference's side: pymilvus-model 0.3.4, in the reference's own virtual
environment (it needs transformers 4.x), at its default settings (batch_size=32, device cpu):

    /tmp/ref/venv/bin/python bench/_reference_runner.py --model DIR --texts T.json --out R.json
    ... --latency    (encode_queries, one text per call: bench_latency.py's reference side)

``measure`` is shared with spladekit's side (``bench_encode.py --worker``), so both are timed and
measured by the same code. Only stdlib, numpy and scipy are imported at module level.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Encode = Callable[[list[str]], Any]  # texts -> scipy sparse (n, dim)


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB, as the OS counts it."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB else


def measure(load: Callable[[], Encode], texts: list[str], vectors_out: Path) -> dict[str, Any]:
    """Load (timed apart), encode all texts in one call (timed), then read the peak RSS.

    Encode time includes tokenisation and building the sparse output, not model loading. The
    vectors are saved to ``vectors_out`` (after the RSS reading) for the parity check.
    """
    start = time.perf_counter()
    encode = load()
    loaded = time.perf_counter()
    vectors = encode(texts)
    done = time.perf_counter()
    rss = peak_rss_mib()
    csr = vectors.tocsr()
    # The reference's top-k can store explicit zeros; count only real non-zeros.
    row_of_entry = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    nonzero = np.bincount(row_of_entry[csr.data != 0], minlength=csr.shape[0])
    np.savez(
        vectors_out,
        indptr=csr.indptr,
        indices=csr.indices,
        data=csr.data,
        shape=np.asarray(csr.shape),
    )
    return {
        "n": len(texts),
        "load_s": loaded - start,
        "encode_s": done - loaded,
        "docs_per_s": len(texts) / (done - loaded),
        "peak_rss_mib": rss,
        "nnz_mean": float(nonzero.mean()) if len(texts) else 0.0,
        "stored_zeros": int((csr.data == 0).sum()),
        "vectors": str(vectors_out),
    }


def latency_ms(
    encode_one: Callable[[str], Any], queries: list[str], warmup: int = 20
) -> list[float]:
    """Milliseconds per call of ``encode_one`` on each query, one at a time, after a warm-up
    (first calls pay one-off allocations and lazy initialisation)."""
    for query in queries[:warmup]:
        encode_one(query)
    times = []
    for query in queries:
        start = time.perf_counter()
        encode_one(query)
        times.append((time.perf_counter() - start) * 1000)
    return times


def torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def token_lengths(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[int]:
    """Token count of each text after truncation: which texts the reference padded."""
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    return [len(seq) for seq in ids]


def main() -> None:
    parser = argparse.ArgumentParser(description="the reference's side of bench_encode.py")
    parser.add_argument("--model", required=True, help="local model folder")
    parser.add_argument("--texts", required=True, type=Path, help="JSON list of texts")
    parser.add_argument("--out", required=True, type=Path, help="result JSON to write")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--latency", action="store_true", help="time encode_queries one text per call instead"
    )
    args = parser.parse_args()
    texts = json.loads(args.texts.read_text(encoding="utf-8"))
    holder: dict[str, Any] = {}
    if args.latency:
        from importlib import metadata

        from pymilvus.model.sparse import SpladeEmbeddingFunction

        fn = SpladeEmbeddingFunction(model_name=args.model, device="cpu")
        times = latency_ms(lambda q: fn.encode_queries([q]), texts)
        result = {
            "impl": f"pymilvus-model {metadata.version('pymilvus.model')}",
            "times_ms": times,
            "threads": torch_threads(),
        }
        args.out.write_text(json.dumps(result), encoding="utf-8")
        return

    def load() -> Encode:
        from pymilvus.model.sparse import SpladeEmbeddingFunction

        fn = SpladeEmbeddingFunction(
            model_name=args.model, batch_size=args.batch_size, device="cpu"
        )
        holder["fn"] = fn
        return fn.encode_documents  # type: ignore[no-any-return]

    result = measure(load, texts, args.out.with_suffix(".npz"))
    from importlib import metadata

    tokenizer = holder["fn"].model.tokenizer
    result.update(
        impl=f"pymilvus-model {metadata.version('pymilvus.model')}",
        settings={"batch_size": args.batch_size, "device": "cpu"},
        threads=torch_threads(),
        token_lengths=token_lengths(tokenizer, texts, tokenizer.model_max_length),
        batch_size=args.batch_size,
    )
    args.out.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
