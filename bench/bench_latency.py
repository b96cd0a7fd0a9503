"""Single-query encoding latency (p50/p99) against pymilvus-model, measured in the same run.

    .venv/bin/python bench/bench_latency.py [--model tiny|bert-base|DIR] [--n 300]
        [--modes torch-fp32,onnx-int8,inference-free]

Encodes the first N SciFact queries (queries.jsonl order, all splits:
``_common.scifact_queries``) one per call (a batch of one, as a search box sends them) after a
warm-up: first the reference (pymilvus-model 0.3.4, in its own venv, as bench_encode.py runs it),
then each spladekit mode, each side in a fresh process. Prints p50/p99 (``_common.percentile``)
and mean in ms, the ratios to the reference and the targets of issue 7: the default mode (torch
fp32, exact) p50 <= 0.5x and p99 <= 1x the reference's; the recommended fast query mode (onnx
int8) p50 <= 0.3x.

The ``inference-free`` mode (issue 14) times the model's inference-free variant: the same
document encoder with a query side of SciFact-corpus IDF weights (``build_inference_free``,
built once and cached in the model cache, see _inference_free_model.py); a query
is a tokenizer call and a table lookup. Its target: p50 <= 0.05 ms on a BERT vocabulary.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import (
    BENCH,
    REFERENCE_PYTHON,
    SPLADE_TINY,
    cpu_summary,
    model_folder,
    parity,
    percentile,
    python_lacks,
    scifact_queries,
)
from _inference_free_model import cached_inference_free
from _peers import PEERS, run_peer, save_rows
from _reference_runner import latency_ms
from bench_encode import MODES  # the same modes as bench_encode

DEFAULT_MODE = "torch-fp32"
FAST_MODE = "onnx-int8"
ISSUE15_FAST_MODE = "onnx-int8-full"  # every linear layer in int8 (issue 15's fast mode)
FREE_MODE = "inference-free"  # not a SpladeEncoder option: another model folder
FREE_TARGET_MS = 0.05
BERT_VOCAB = 30522


def worker(mode: str, model: str, queries_file: Path, out: Path) -> None:
    """One spladekit mode, in a fresh process: load, warm up, time each query."""
    from spladekit import SpladeEncoder, cached_export

    if mode == FREE_MODE:  # the parent built the folder and passes it as the model
        encoder = SpladeEncoder(model)
    else:
        options = MODES[mode]
        folder = cached_export(model) if options["backend"] == "onnx" else model
        encoder = SpladeEncoder(folder, **options)
    queries = json.loads(queries_file.read_text(encoding="utf-8"))
    times = latency_ms(lambda q: encoder.encode_queries([q]), queries)
    vectors = encoder.encode_queries(queries)  # after the timing: for the agreement columns
    npz = out.with_suffix(".npz")
    save_rows([(vectors.indices[a:b], vectors.data[a:b])
               for a, b in itertools.pairwise(vectors.indptr)],
              vectors.shape[1], npz)
    out.write_text(json.dumps({"impl": f"spladekit {mode}", "times_ms": times,
                               "vectors": str(npz)}), encoding="utf-8")


def run(command: list[str], out: Path) -> dict[str, Any] | None:
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        print(f"  not run: {lines[-1] if lines else 'exit ' + str(proc.returncode)}")
        return None
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=str(SPLADE_TINY),
        help="tiny | bert-base | roberta-base | modernbert-base | a model folder",
    )
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument(
        "--modes", default=f"torch-fp32,torch-bf16,onnx-fp32,onnx-int8,{FREE_MODE}",
        help=f"comma-separated: {', '.join(MODES)}, {FREE_MODE}",
    )
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument(
        "--peers", default="st,fastembed",
        help="peers timed beside the reference, each in a fresh process (issue 15): "
        f"comma-separated {', '.join(PEERS)}, or '' for none",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--queries", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.model, args.queries, args.out)
        return

    args.model = str(model_folder(args.model))
    queries = scifact_queries(args.n)
    print(f"{len(queries)} SciFact queries, one per call, model {args.model}")
    print(f"CPU: {cpu_summary()}")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="spladekit-latency-") as tmp:
        work = Path(tmp)
        queries_file = work / "queries.json"
        queries_file.write_text(json.dumps(queries), encoding="utf-8")
        lacks = python_lacks(REFERENCE_PYTHON, ("pymilvus", "transformers", "torch"))
        if not args.skip_reference and lacks:
            print(f"reference: pymilvus-model ...\n  not run: {lacks} (SPLADEKIT_REFERENCE_PYTHON)")
        elif not args.skip_reference:
            out = work / "reference.json"
            print("reference: pymilvus-model ...", flush=True)
            ref = run(
                [str(REFERENCE_PYTHON), str(BENCH / "_reference_runner.py"), "--latency", "--model",
                 args.model, "--texts", str(queries_file), "--out", str(out)],
                out,
            )
            if ref is not None:
                results.append(ref)
        for mode in args.modes.split(","):
            out = work / f"{mode}.json"
            print(f"spladekit {mode} ...", flush=True)
            model = args.model
            if mode == FREE_MODE:
                folder, built = cached_inference_free(Path(args.model))
                print(f"  {'built' if built else 'cached'}: {folder}", flush=True)
                model = str(folder)
            ours = run(
                [sys.executable, __file__, "--worker", mode, "--model", model,
                 "--queries", str(queries_file), "--out", str(out)],
                out,
            )
            if ours is not None:
                ours["mode"] = mode
                results.append(ours)
        peers = [p for p in args.peers.split(",") if p]
        for peer in peers:
            print(f"peer {peer} ...", flush=True)
            try:
                found = run_peer(peer, "latency", Path(args.model), queries_file, work)
            except RuntimeError as exc:
                print(f"  not run: {exc}", flush=True)
                continue
            found["peer"] = peer
            results.append(found)
        _add_agreement(results)
    reference = results[0] if results and "mode" not in results[0] else None
    columns = ("p50 ms", "p99 ms", "mean ms", "p50/ref", "p99/ref")
    print("\n" + f"{'impl':<26}" + "".join(f" {c:>8}" for c in columns))
    for r in results:
        t = r["times_ms"]
        r.update(p50=percentile(t, 50), p99=percentile(t, 99), mean=statistics.fmean(t))
        ratios = ""
        if reference is not None and r is not reference:
            ratios = f"{r['p50'] / reference['p50']:8.2f} {r['p99'] / reference['p99']:8.2f}"
        print(f"{r['impl']:<26} {r['p50']:8.3f} {r['p99']:8.3f} {r['mean']:8.3f} {ratios}")
    if reference is not None:
        by_mode = {r["mode"]: r for r in results if "mode" in r}
        if DEFAULT_MODE in by_mode:
            d = by_mode[DEFAULT_MODE]
            ok50 = d["p50"] <= 0.5 * reference["p50"]
            ok99 = d["p99"] <= reference["p99"]
            print(f"target default ({DEFAULT_MODE}) p50 <= 0.5x ref: "
                  f"{'met' if ok50 else 'MISSED'} ({d['p50'] / reference['p50']:.2f}x); "
                  f"p99 <= 1x ref: {'met' if ok99 else 'MISSED'} "
                  f"({d['p99'] / reference['p99']:.2f}x)")
        if FAST_MODE in by_mode:
            f = by_mode[FAST_MODE]
            ok = f["p50"] <= 0.3 * reference["p50"]
            print(f"target fast mode ({FAST_MODE}) p50 <= 0.3x ref: "
                  f"{'met' if ok else 'MISSED'} ({f['p50'] / reference['p50']:.2f}x)")
    by_mode = {r["mode"]: r for r in results if "mode" in r}
    if FREE_MODE in by_mode:
        free = by_mode[FREE_MODE]
        vocab = _vocab_size(Path(args.model))
        note = "" if vocab == BERT_VOCAB else f"; this model's vocabulary is {vocab}, not BERT's"
        print(f"target {FREE_MODE} p50 <= {FREE_TARGET_MS} ms (BERT vocabulary {BERT_VOCAB}): "
              f"{'met' if free['p50'] <= FREE_TARGET_MS else 'MISSED'} ({free['p50']:.4f} ms, "
              f"p99 {free['p99']:.4f} ms{note})")
    _print_issue15(results, reference)
    if args.json:
        for r in results:
            r.pop("times_ms", None)
        args.json.write_text(json.dumps({"cpu": cpu_summary(), "results": results}, indent=2))


def _add_agreement(results: list[dict[str, Any]]) -> None:
    """Each side's vectors against spladekit's default (torch fp32): the agreement columns."""
    from bench_encode import load_vectors

    base = next((r for r in results if r.get("mode") == DEFAULT_MODE and "vectors" in r), None)
    if base is None:
        return
    ours = load_vectors(base["vectors"])
    for r in results:
        if r is not base and "vectors" in r and r.get("mode") != FREE_MODE:
            theirs = load_vectors(r["vectors"])
            if theirs.shape == ours.shape:
                r["agreement"] = parity(ours, theirs)


def _print_issue15(results: list[dict[str, Any]], reference: dict[str, Any] | None) -> None:
    """Agreement with spladekit's default, and issue 15's latency targets (same run)."""
    print(f"\nagreement with spladekit {DEFAULT_MODE}, per query:")
    for r in results:
        a = r.get("agreement")
        if a is not None:
            print(f"  {r['impl']:<28} cosine mean {a['cosine_mean']:.6f} min "
                  f"{a['cosine_min']:.6f}, same non-zero set {a['same_nonzero_set']:.1%}")
    by_mode = {r["mode"]: r for r in results if "mode" in r}
    by_peer = {r["peer"]: r for r in results if "peer" in r}
    default, full = by_mode.get(DEFAULT_MODE), by_mode.get(ISSUE15_FAST_MODE)
    if reference is not None and default is not None:
        p50, p99 = default["p50"] / reference["p50"], default["p99"] / reference["p99"]
        print(f"issue 15 target default p50 <= 0.5x ref: {'met' if p50 <= 0.5 else 'MISSED'} "
              f"({p50:.2f}x); p99 <= 0.7x ref: {'met' if p99 <= 0.7 else 'MISSED'} ({p99:.2f}x)")
    if reference is not None and full is not None:
        p50 = full["p50"] / reference["p50"]
        print(f"issue 15 target {ISSUE15_FAST_MODE} p50 <= 0.25x ref: "
              f"{'met' if p50 <= 0.25 else 'MISSED'} ({p50:.2f}x)")
    for peer, r in by_peer.items():
        if default is not None:
            lead = r["p50"] / default["p50"]
            print(f"  default vs {r['impl']}: peer p50 / default p50 = {lead:.2f}x "
                  f"({'leads' if lead > 1 else 'does NOT lead'})")
        fast = [m for m in ("onnx-fp32", "onnx-int8", ISSUE15_FAST_MODE) if m in by_mode]
        if peer == "fastembed":
            for mode in fast:
                lead = r["p50"] / by_mode[mode]["p50"]
                print(f"  {mode} vs {r['impl']}: peer p50 / {mode} p50 = {lead:.2f}x "
                      f"({'leads' if lead > 1 else 'does NOT lead'})")


def _vocab_size(model: Path) -> int | None:
    config = model / "config.json"
    if not config.is_file():
        return None
    size = json.loads(config.read_text(encoding="utf-8")).get("vocab_size")
    return int(size) if isinstance(size, int) else None


if __name__ == "__main__":
    main()
