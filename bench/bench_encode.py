"""Encode benchmark: spladekit against pymilvus-model 0.3.4 on the same SciFact documents.

    .venv/bin/python bench/bench_encode.py --model tiny          # splade-tiny, 2,000 docs
    .venv/bin/python bench/bench_encode.py --model bert-base     # random BERT-base, 200 docs
    .venv/bin/python bench/bench_encode.py --model roberta-base  # against sentence-transformers
    .venv/bin/python bench/bench_encode.py --model modernbert-base

The peer is pymilvus-model 0.3.4 for tiny and bert-base, and sentence-transformers'
``SparseEncoder.encode_document`` (the main venv's, 6.2) for the RoBERTa-base and ModernBERT-base
random models (make_random_model.py --arch roberta|modernbert); ``--peer`` picks another.
Each side (the peer, then each spladekit mode) runs in its own fresh subprocess, so the
peak RSS the OS reports for it is its own and includes model loading. docs/s counts encode time
only (tokenisation included, model loading excluded). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    BENCH,
    MODEL_NAMES,
    REFERENCE_PYTHON,
    SCIFACT,
    cpu_summary,
    parity,
    python_lacks,
    scifact_documents,
)

REFERENCE_BATCH_SIZE = 32  # the reference's default; it is what users of it get
ST_WORKER = "sentence-transformers"  # --worker name of sentence-transformers' side

# spladekit modes: name -> SpladeEncoder keyword arguments. A new mode (torch-bf16, onnx-fp32,
# onnx-int8...) is one more entry here; everything else about the harness stays the same.
MODES: dict[str, dict[str, Any]] = {
    "torch-fp32": {"backend": "torch", "precision": "fp32"},
    "torch-bf16": {"backend": "torch", "precision": "bf16"},
    "onnx-fp32": {"backend": "onnx", "precision": "fp32"},
    "onnx-int8": {"backend": "onnx", "precision": "int8"},
    # issue 15's fast mode: every linear layer in int8 (opt-in; docs/SPEED.md)
    "onnx-int8-full": {"backend": "onnx", "precision": "int8-full"},
}


@dataclass(frozen=True)
class Target:
    """What spladekit must reach against the reference on a model: speed up, RSS down."""

    min_speed_ratio: float
    max_rss_ratio: float

    def describe(self) -> str:
        return (
            f"speed ratio >= {self.min_speed_ratio:g}, RSS ratio <= {self.max_rss_ratio:.3f} "
            f"(1/{1 / self.max_rss_ratio:.0f} of the reference's peak RSS)"
        )


@dataclass(frozen=True)
class ModelSpec:
    folder: Path
    default_n: int
    target: Target | None
    how_to_get: str
    peer: str = "pymilvus"  # pymilvus | st: what the ratios and the target compare against


NAMED_MODELS = {
    "tiny": ModelSpec(
        MODEL_NAMES["tiny"], 2000, Target(4.0, 1 / 5), "python scripts/fetch_test_model.py"
    ),
    "bert-base": ModelSpec(
        MODEL_NAMES["bert-base"], 200, Target(1.4, 1 / 3), "python bench/make_random_model.py"
    ),
    # Issue 14: against sentence-transformers 6.2 on the same folder.
    "roberta-base": ModelSpec(
        MODEL_NAMES["roberta-base"], 200, Target(1.5, 1 / 2),
        "python bench/make_random_model.py --arch roberta", peer="st",
    ),
    "modernbert-base": ModelSpec(
        MODEL_NAMES["modernbert-base"], 200, Target(1.5, 1 / 2),
        "python bench/make_random_model.py --arch modernbert", peer="st",
    ),
}


def resolve_model(name: str) -> ModelSpec:
    spec = NAMED_MODELS.get(name) or ModelSpec(Path(name).expanduser(), 200, None, "")
    if not (spec.folder / "config.json").is_file():
        hint = f"; build it with `{spec.how_to_get}`" if spec.how_to_get else ""
        raise SystemExit(f"no model at {spec.folder}{hint}")
    return spec


def load_scifact(n: int, folder: Path = SCIFACT) -> list[str]:
    """The first n SciFact documents (title + " " + text, as spladekit.corpus reads them)."""
    texts = scifact_documents(n, folder)
    if len(texts) < n:
        raise SystemExit(f"asked for {n} documents but {folder} has only {len(texts)}")
    return texts


# -- the two kinds of worker --------------------------------------------------------------------


class WorkerFailed(RuntimeError):
    """A side could not run; the message ends with the worker's last error line."""


def run_worker(command: list[str], out: Path) -> dict[str, Any]:
    """Run one side in a fresh process and read back its result JSON."""
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        raise WorkerFailed(
            f"benchmark worker failed (exit {proc.returncode}): {' '.join(command)}\n"
            f"{proc.stderr[-4000:]}\n{lines[-1] if lines else ''}"
        )
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def run_reference(model: Path, texts_file: Path, work: Path) -> dict[str, Any]:
    out = work / "reference.json"
    command = [
        str(REFERENCE_PYTHON),
        str(BENCH / "_reference_runner.py"),
        "--model",
        str(model),
        "--texts",
        str(texts_file),
        "--out",
        str(out),
        "--batch-size",
        str(REFERENCE_BATCH_SIZE),
    ]
    return run_worker(command, out)


def run_sentence_transformers(model: Path, texts_file: Path, work: Path) -> dict[str, Any]:
    """sentence-transformers' side, in a fresh process of this venv (bench_encode --worker)."""
    out = work / "sentence-transformers.json"
    command = [
        sys.executable, str(Path(__file__).resolve()), "--worker", ST_WORKER, "--model",
        str(model), "--texts", str(texts_file), "--worker-out", str(out),
    ]
    return run_worker(command, out)


def st_worker(model: Path, texts_file: Path, out: Path) -> None:
    """sentence-transformers 6's SparseEncoder.encode_document at its defaults (batch 32, cpu).

    Its sparse torch output is turned into a scipy CSR array inside the timed call (a few ms):
    the same kind of output spladekit returns."""
    from importlib import metadata

    from _reference_runner import measure, torch_threads
    from scipy.sparse import coo_array

    texts = json.loads(texts_file.read_text(encoding="utf-8"))

    def load() -> Any:
        from sentence_transformers import SparseEncoder

        encoder = SparseEncoder(str(model), device="cpu")

        def encode(batch: list[str]) -> Any:
            vectors = encoder.encode_document(batch, convert_to_sparse_tensor=True).coalesce()
            rows, cols = vectors.indices().numpy()
            return coo_array(
                (vectors.values().numpy(), (rows, cols)), shape=tuple(vectors.shape)
            ).tocsr()

        return encode

    result = measure(load, texts, out.with_suffix(".npz"))
    result.update(
        impl=f"sentence-transformers {metadata.version('sentence-transformers')}",
        settings={"batch_size": 32, "device": "cpu"},
        threads=torch_threads(),
    )
    out.write_text(json.dumps(result), encoding="utf-8")


def onnx_folder(model: Path) -> Path:
    """Export once (fp32 + int8) into spladekit's cache, in a separate process, so that the
    ONNX workers' load time and peak RSS cover loading the exported model, not exporting it."""
    code = (
        "import sys; from pathlib import Path; from spladekit.onnx.export import cached_export; "
        "print(cached_export(Path(sys.argv[1])))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(model)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise WorkerFailed(f"ONNX export failed\n{proc.stderr[-2000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def run_spladekit(mode: str, model: Path, texts_file: Path, work: Path) -> dict[str, Any]:
    out = work / f"spladekit-{mode}.json"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        mode,
        "--model",
        str(model),
        "--texts",
        str(texts_file),
        "--worker-out",
        str(out),
    ]
    return run_worker(command, out)


def spladekit_worker(mode: str, model: Path, texts_file: Path, out: Path) -> None:
    """spladekit's side, inside the fresh process: SpladeEncoder at its defaults plus the mode."""
    from _reference_runner import measure, torch_threads  # bench/ is sys.path[0] here

    texts = json.loads(texts_file.read_text(encoding="utf-8"))

    def load() -> Any:
        from spladekit import SpladeEncoder

        return SpladeEncoder(model, **MODES[mode]).encode_documents

    result = measure(load, texts, out.with_suffix(".npz"))
    result.update(impl=f"spladekit {mode}", settings=MODES[mode], threads=torch_threads())
    out.write_text(json.dumps(result), encoding="utf-8")


# -- comparing and reporting --------------------------------------------------------------------


def load_vectors(path: str) -> Any:
    from scipy.sparse import csr_array

    parts = np.load(path)
    matrix = csr_array(
        (parts["data"], parts["indices"], parts["indptr"]), shape=tuple(parts["shape"])
    )
    matrix.eliminate_zeros()  # the reference's explicit zeros carry no weight
    matrix.sort_indices()
    return matrix


def unpadded_rows(lengths: list[int], batch_size: int) -> np.ndarray:
    """Rows that were the longest of their reference batch: the only ones it saw without padding."""
    size = np.asarray(lengths, dtype=np.int64)
    if size.size == 0:
        return size
    starts = np.arange(0, size.size, batch_size)
    longest = np.repeat(np.maximum.reduceat(size, starts), np.diff(np.append(starts, size.size)))
    return np.flatnonzero(size == longest)


def compare(reference: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    ref_vectors = load_vectors(reference["vectors"])
    our_vectors = load_vectors(ours["vectors"])
    result = {"all_docs": parity(ref_vectors, our_vectors)}
    if "token_lengths" in reference:  # pymilvus-model pads into its pooling; see the README
        alone = unpadded_rows(reference["token_lengths"], reference["batch_size"])
        result["docs_the_reference_did_not_pad"] = parity(ref_vectors, our_vectors, alone)
    return result


def print_report(
    model_name: str,
    spec: ModelSpec,
    n: int,
    results: list[dict[str, Any]],
    reference: dict[str, Any] | None,
) -> None:
    print(
        f"\nmodel {model_name} ({spec.folder}), {n} SciFact docs, "
        f"{os.cpu_count()} CPUs, torch threads per side: "
        + ", ".join(f"{r['impl']}={r['threads']}" for r in results)
    )
    header = (
        f"{'impl':<28} {'docs/s':>9} {'peak RSS MiB':>13} {'load s':>7} {'nnz/doc':>8} "
        f"{'speed vs ref':>13} {'RSS ours/ref':>13}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        speed = rss = ""
        if reference is not None and r is not reference:
            speed = f"{r['docs_per_s'] / reference['docs_per_s']:.2f}x"
            rss = f"{r['peak_rss_mib'] / reference['peak_rss_mib']:.3f}"
        print(
            f"{r['impl']:<28} {r['docs_per_s']:>9.2f} {r['peak_rss_mib']:>13.0f} "
            f"{r['load_s']:>7.1f} {r['nnz_mean']:>8.1f} {speed:>13} {rss:>13}"
        )
    if spec.target is not None:
        print(f"target for {model_name}: {spec.target.describe()}")
    for r in results:
        if r is reference or reference is None:
            continue
        if spec.target is not None:
            speed_ok = r["docs_per_s"] / reference["docs_per_s"] >= spec.target.min_speed_ratio
            rss_ok = r["peak_rss_mib"] / reference["peak_rss_mib"] <= spec.target.max_rss_ratio
            print(
                f"  {r['impl']}: speed target {'met' if speed_ok else 'MISSED'}, "
                f"RSS target {'met' if rss_ok else 'MISSED'}"
            )
        for subset, p in r["parity"].items():
            print(
                f"  parity {r['impl']} vs reference, {subset} ({p['rows']} docs): "
                f"same non-zero set {p['same_nonzero_set']:.1%}, "
                f"max abs diff {p['max_abs_diff']:.2g}"
            )


def _run_extra_peers(
    names: str,
    reference_peer: str,
    model: Path,
    texts_file: Path,
    work: Path,
    results: list[dict[str, Any]],
    reference: dict[str, Any] | None,
) -> None:
    """Issue 15's peer rows (sentence-transformers, fastembed) after spladekit's modes."""
    from _peers import run_peer

    base = next((r for r in results if r.get("impl") == "spladekit torch-fp32"), None)
    for name in [p for p in names.split(",") if p]:
        if name == "st" and reference_peer == "st" and reference is not None:
            continue  # already the reference row
        print(f"peer {name} on {len(json.loads(texts_file.read_text()))} docs ...", flush=True)
        try:
            found = run_peer(name, "encode", model, texts_file, work)
        except RuntimeError as exc:
            print(f"  not run: {exc}", flush=True)
            continue
        found.setdefault("threads", os.cpu_count())
        if reference is not None:
            found["parity"] = compare(reference, found)
        results.append(found)
    if base is not None:
        ours = load_vectors(base["vectors"])
        for r in results:
            if r is not base and "vectors" in r:
                theirs = load_vectors(r["vectors"])
                if theirs.shape == ours.shape:
                    r["agreement"] = parity(ours, theirs)


def _print_agreement(results: list[dict[str, Any]]) -> None:
    rows = [r for r in results if "agreement" in r]
    if not rows:
        return
    print("agreement with spladekit torch-fp32, per document:")
    for r in rows:
        a = r["agreement"]
        print(f"  {r['impl']:<28} cosine mean {a['cosine_mean']:.6f} min {a['cosine_min']:.6f}, "
              f"same non-zero set {a['same_nonzero_set']:.1%}")
    base = next((r for r in results if r.get("impl") == "spladekit torch-fp32"), None)
    fast = [r for r in results if r.get("impl", "").startswith("spladekit onnx")]
    for peer in (r for r in results if not r.get("impl", "").startswith("spladekit")):
        if base is not None and peer is not base:
            ratio = base["docs_per_s"] / peer["docs_per_s"]
            print(f"  spladekit torch-fp32 / {peer['impl']} docs/s: {ratio:.2f}x "
                  f"({'leads' if ratio > 1 else 'does NOT lead'})")
        if peer.get("impl", "").startswith("fastembed"):
            for r in fast:
                ratio = r["docs_per_s"] / peer["docs_per_s"]
                print(f"  {r['impl']} / {peer['impl']} docs/s: {ratio:.2f}x "
                      f"({'leads' if ratio > 1 else 'does NOT lead'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default="tiny", help="tiny | bert-base | a local model folder (default tiny)"
    )
    parser.add_argument(
        "--n", type=int, help="number of SciFact docs (default 2000 for tiny, 200 otherwise)"
    )
    parser.add_argument(
        "--modes", default="torch-fp32", help=f"comma-separated spladekit modes: {', '.join(MODES)}"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--skip-reference", action="store_true", help="run spladekit only (no ratios, no parity)"
    )
    parser.add_argument(
        "--peer", choices=("pymilvus", "st"),
        help="the side the ratios compare with: pymilvus-model 0.3.4 or sentence-transformers "
        "(default: pymilvus for tiny and bert-base, st for roberta-base and modernbert-base)",
    )
    parser.add_argument(
        "--peers", default="st,fastembed",
        help="peers measured beside the reference, each in a fresh process, with their "
        "agreement with spladekit's torch-fp32 vectors (issue 15): comma-separated st, "
        "fastembed, or '' for none",
    )
    # Internal: how the parent runs spladekit's side in a fresh process.
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--texts", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker == ST_WORKER:
        st_worker(Path(args.model), args.texts, args.worker_out)
        return
    if args.worker:
        spladekit_worker(args.worker, Path(args.model), args.texts, args.worker_out)
        return

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        parser.error(f"unknown mode(s) {unknown}; choose from {', '.join(MODES)}")
    spec = resolve_model(args.model)
    peer = args.peer or spec.peer
    n = args.n or spec.default_n
    texts = load_scifact(n)
    print(f"CPU: {cpu_summary()}", flush=True)

    with tempfile.TemporaryDirectory(prefix="spladekit-bench-") as tmp:
        work = Path(tmp)
        texts_file = work / "texts.json"
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        results: list[dict[str, Any]] = []
        reference = None
        if not args.skip_reference and peer == "st":
            print(f"reference: sentence-transformers on {n} docs ...", flush=True)
            reference = run_sentence_transformers(spec.folder, texts_file, work)
            results.append(reference)
        elif not args.skip_reference:
            lacks = python_lacks(REFERENCE_PYTHON, ("pymilvus", "transformers", "torch"))
            if lacks:
                raise SystemExit(f"reference: {lacks}; build its venv as bench/README.md says "
                                 "(or set SPLADEKIT_REFERENCE_PYTHON), or --skip-reference")
            print(f"reference: pymilvus-model on {n} docs ...", flush=True)
            reference = run_reference(spec.folder, texts_file, work)
            results.append(reference)
        for mode in modes:
            print(f"spladekit {mode} on {n} docs ...", flush=True)
            folder = spec.folder
            try:
                if MODES[mode]["backend"] == "onnx":
                    folder = onnx_folder(spec.folder)
                ours = run_spladekit(mode, folder, texts_file, work)
            except WorkerFailed as exc:
                # A mode this machine cannot run (bf16 without native support, say) is
                # reported, not fatal: the other modes still make the table.
                print(f"  not run: {str(exc).splitlines()[-1]}", flush=True)
                continue
            if reference is not None:
                ours["parity"] = compare(reference, ours)
            results.append(ours)
        _run_extra_peers(args.peers, peer, spec.folder, texts_file, work, results, reference)
        if peer != spec.peer:  # the model's target is set against its usual peer
            spec = ModelSpec(spec.folder, spec.default_n, None, spec.how_to_get, peer)
        print_report(args.model, spec, n, results, reference)
        _print_agreement(results)

    if args.json:
        for r in results:
            r.pop("vectors", None)
            r.pop("token_lengths", None)
        payload = {
            "cpu": cpu_summary(),
            "peer": None if reference is None else reference["impl"],
            "model": args.model,
            "model_dir": str(spec.folder),
            "n": n,
            "cpus": os.cpu_count(),
            "target": None if spec.target is None else vars(spec.target),
            "results": results,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
