"""Indexing on Ray Data against single-process indexing, into the real Milvus server.

    .venv/bin/python bench/bench_ray.py                        # 2,000 SciFact documents, tiny
    .venv/bin/python bench/bench_ray.py --n 100 --workers 1,2  # a quick check
    .venv/bin/python bench/bench_ray.py --model bert-base --n 48 --batch 16 --workers 1

One run: the first N SciFact documents (``title + " " + text``, read by ``spladekit.corpus``
from ``_common.SCIFACT``: ``../shared/data/scifact`` or ``$SPLADEKIT_SCIFACT``, or ``--data``;
never copied into the repo) written to a temporary JSON lines file; a
Milvus server (scripts/fetch_milvus_server.py) on a loopback port; then each mode in its own
fresh process, into its own collection, in this order:

- ``single``: what ``spladekit index`` does (SpladeEncoder + Retriever.index, chunks of 256);
- ``ray-W``: what ``spladekit index --ray local --workers W`` does (``index_on_ray``, batches of
  256, a Ray cluster started in the process with every CPU of the machine).

Per mode: ``wall s`` is the process from start to exit (imports, model load, Ray start and stop
included) and ``docs/s`` is N over it, the figure the target compares; ``job docs/s`` is what the
command's own JSON line reports (single: the indexing loop; Ray: the job with Ray's start);
``steady docs/s`` is the rate between the first and the last progress report (no startup), and
``per actor`` that divided by W; ``overhead s`` is wall - N / steady: the fixed cost of the mode.
Then the Milvus server's upsert rate for these vectors (one client, batches of 500), for
docs/SCALING.md. Target: ray-2 docs/s >= 0.9 x single docs/s (issue 10), printed met/MISSED.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    SCIFACT,
    SteadyRate,
    cpu_summary,
    milvus_server,
    model_folder,
    quiet_ray,
    scifact_records,
)

BATCH = 256  # spladekit index's --chunk-size default, used by both paths unless --batch
TARGET = 0.9


def write_corpus(data: Path, n: int, path: Path) -> int:
    """The first n documents of ``data`` as id/text JSON lines (text: title + " " + text)."""
    records = scifact_records(n, data)
    with open(path, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps({"id": record.id, "text": record.text}) + "\n")
    return len(records)


# -- one mode, in its own process ------------------------------------------------------------


def worker(
    mode: str, corpus: str, uri: str, collection: str, model: str, batch: int
) -> dict[str, Any]:
    progress = SteadyRate()
    if mode == "single":
        from spladekit import MilvusStore, Retriever, SpladeEncoder
        from spladekit.corpus import read_corpus

        encoder = SpladeEncoder(model)
        with MilvusStore(uri, collection=collection, model=encoder.model_identity) as store:
            report = Retriever(encoder, store).index(
                read_corpus([corpus]), chunk_size=batch, progress=progress
            )
            row: dict[str, Any] = {"encoded": report.encoded, "job_s": report.seconds,
                                   "stored": store.count(), "workers": 1}
    else:
        from spladekit import RayOptions, index_on_ray
        from spladekit.distributed.runtime import ray_module

        workers = int(mode.split("-")[1])
        ray_module("local")  # Ray Data, with the loopback environment set before its import
        options = RayOptions(workers=workers, init_kwargs=quiet_ray())
        result = index_on_ray(
            [corpus], uri=uri, collection=collection, model=model, ray_options=options,
            batch_size=batch, progress=progress,
        )
        row = {"encoded": result.encoded, "job_s": result.seconds, "stored": result.stored,
               "workers": workers, "failed": result.failed}
    steady = progress.docs_per_s()
    if steady is not None:
        row["steady_docs_per_s"] = steady
    return row


# -- the run ---------------------------------------------------------------------------------


def run_mode(mode: str, corpus: Path, uri: str, model: Path, batch: int) -> dict[str, Any]:
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, __file__, "--worker", mode, "--corpus", str(corpus), "--uri", uri,
         "--collection", mode.replace("-", "_"), "--model", str(model), "--batch", str(batch)],
        capture_output=True, text=True, env={**os.environ, "RAY_BACKEND_LOG_LEVEL": "fatal"},
    )
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{process.stderr[-3000:]}")
    row: dict[str, Any] = json.loads(process.stdout.strip().splitlines()[-1])
    row.update(mode=mode, wall_s=wall, docs_per_s=row["encoded"] / wall,
               job_docs_per_s=row["encoded"] / row["job_s"])
    steady = row.get("steady_docs_per_s")
    if steady:
        row["per_actor_docs_per_s"] = steady / row["workers"]
        row["overhead_s"] = wall - row["encoded"] / steady
    return row


def upsert_rate(uri: str, source: str, ids: list[str]) -> dict[str, float]:
    """The server's upsert rate for stored vectors: one client, batches of 500."""
    from spladekit import MilvusStore

    with MilvusStore(uri, collection=source) as store:
        vectors = store.get_vectors(ids)
        texts = {d.id: d.text for d in store.get(ids)}
    with MilvusStore(uri, collection="upsert_rate") as target:
        started = time.perf_counter()
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            target.upsert(part, [vectors[i] for i in part], [texts[i] for i in part])
        seconds = time.perf_counter() - started
    nnz = sum(len(v) for v in vectors.values()) / max(1, len(vectors))
    return {"docs_per_s": len(ids) / seconds, "seconds": seconds, "nnz_per_doc": nnz}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--workers", default="1,2", help="Ray worker counts, comma-separated.")
    parser.add_argument(
        "--model", default="tiny",
        help="tiny, bert-base, roberta-base, modernbert-base, or a model folder.",
    )
    parser.add_argument("--data", type=Path, default=SCIFACT, help="A BEIR folder (SciFact).")
    parser.add_argument("--batch", type=int, default=BATCH, help="Documents per batch (256).")
    parser.add_argument("--json", type=Path, default=None, help="Also write the rows here.")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--collection", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(
            worker(args.worker, args.corpus, args.uri, args.collection, args.model, args.batch)
        ))
        return

    server_helper = milvus_server()
    if not server_helper.platform_supported() or not server_helper.binary_path().is_file():
        raise SystemExit("the Milvus server binary is missing: run scripts/fetch_milvus_server.py")
    model = model_folder(args.model)
    if not model.is_dir():
        raise SystemExit(f"no model at {model} (bert-base: bench/make_random_model.py first)")
    modes = ["single", *(f"ray-{int(w)}" for w in args.workers.split(","))]
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        n = write_corpus(args.data, args.n, corpus)
        with server_helper.MilvusServer(Path(tmp) / "server") as server:
            rows = [run_mode(mode, corpus, server.uri, model, args.batch) for mode in modes]
            ids = [json.loads(line)["id"] for line in corpus.read_text().splitlines()]
            ingest = upsert_rate(server.uri, "single", ids)

    print(f"{n} SciFact documents, model {model.name}, {os.cpu_count()} CPUs ({cpu_summary()}); "
          f"Milvus server (milvus-lite 2.5.1 engine) on loopback; batches of {args.batch}")
    header = (f"{'mode':<8}{'wall s':>8}{'docs/s':>9}{'job docs/s':>12}{'steady docs/s':>15}"
              f"{'per actor':>11}{'overhead s':>12}{'vs single':>11}")
    print(header)
    base = rows[0]["docs_per_s"]
    for row in rows:
        print(f"{row['mode']:<8}{row['wall_s']:>8.1f}{row['docs_per_s']:>9.2f}"
              f"{row['job_docs_per_s']:>12.2f}{row.get('steady_docs_per_s', 0):>15.2f}"
              f"{row.get('per_actor_docs_per_s', 0):>11.2f}{row.get('overhead_s', 0):>12.1f}"
              f"{row['docs_per_s'] / base:>10.2f}x")
        if row["stored"] != n:
            print(f"  WARNING: {row['mode']} stored {row['stored']} of {n} documents")
    print(f"Milvus server upsert: {ingest['docs_per_s']:.0f} docs/s (one client, batches of 500, "
          f"{ingest['nnz_per_doc']:.0f} non-zeros per document)")
    two = next((r for r in rows if r["mode"] == "ray-2"), None)
    if two is not None:
        ratio = two["docs_per_s"] / base
        print(f"target: ray-2 docs/s >= {TARGET} x single: {ratio:.2f}x "
              f"{'met' if ratio >= TARGET else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps({"n": n, "model": str(model), "rows": rows,
                                         "upsert": ingest}, indent=1))


if __name__ == "__main__":
    main()
