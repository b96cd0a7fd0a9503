"""Peers beside the reference (issue 15): sentence-transformers' SparseEncoder and fastembed.

bench_encode.py (``--peers``) and bench_latency.py (``--peers``) run each peer in a fresh
process, as they run the reference, and compare its vectors with spladekit's default:

- ``st``: sentence-transformers' ``SparseEncoder`` at its defaults (main venv), on the model
  folder itself (MLMTransformer + SpladePooling, built from the plain masked-LM folder);
- ``fastembed``: fastembed's ``SparseTextEmbedding`` (its own venv: ``_common.FASTEMBED_PYTHON``,
  ``/tmp/peers/venv`` or ``$SPLADEKIT_FASTEMBED_PYTHON``; ``pip install fastembed==0.9.1``) with
  ``specific_model_path`` over an ONNX *logits* export of the same checkpoint: fastembed's SPLADE
  class (``SpladePP``, registered as ``prithivida/Splade_PP_en_v1``) reads ``model.onnx`` (output
  ``logits``, (batch, length, vocab)), ``tokenizer.json``, ``tokenizer_config.json``,
  ``config.json`` and ``special_tokens_map.json`` from that folder, pools
  ``max_t log1p(relu(logits)) * mask`` in numpy, and downloads nothing.

    python bench/_peers.py --export MODEL_DIR          # the logits export, once (cached)

Only stdlib, numpy and ``_common`` (stdlib only) are imported at module level (fastembed's venv
has no scipy and no spladekit). The agreement columns are ``_common.parity``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from _common import FASTEMBED_PYTHON, PEERS_CACHE, python_lacks

PEERS = ("st", "fastembed")
FASTEMBED_MODEL = "prithivida/Splade_PP_en_v1"  # the name of fastembed's SPLADE class
# fastembed embeds 256 texts per batch by default: whole (256, 512, 30522) fp32 logits, 16 GB,
# more than this machine has. 32 is the reference's and sentence-transformers' batch.
FASTEMBED_BATCH = 32
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


# -- the logits export (main venv) ---------------------------------------------------------------


def logits_folder(model: Path) -> Path:
    """Where the ONNX logits export of ``model`` lives (exported once, in a fresh process)."""
    stamp = "\n".join(
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in sorted(model.resolve().iterdir()) if p.is_file()
    )
    key = hashlib.sha256(f"{model.resolve()}\n{stamp}".encode()).hexdigest()[:12]
    folder = PEERS_CACHE / f"{model.name}-logits-{key}"
    if not (folder / "model.onnx").is_file():
        proc = subprocess.run(
            [sys.executable, __file__, "--export", str(model), "--out", str(folder)],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"logits export failed:\n{proc.stderr[-3000:]}")
    return folder


def export_logits(model: Path, out: Path) -> None:
    """Export the masked-LM as input_ids, attention_mask -> logits (batch, length, vocab)."""
    import torch
    from transformers import AutoModelForMaskedLM

    staging = out.with_name(out.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    mlm = AutoModelForMaskedLM.from_pretrained(str(model)).float().eval()

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mlm = mlm

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.mlm(input_ids=input_ids, attention_mask=attention_mask).logits

    ids = torch.tensor([[101, 2054, 2003, 102], [101, 7592, 102, 0]])
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length", max=512)
    program = torch.onnx.export(
        Logits().eval(), (ids, (ids != 0).long()), dynamo=True,
        dynamic_shapes={"input_ids": {0: batch, 1: length},
                        "attention_mask": {0: batch, 1: length}},
        input_names=["input_ids", "attention_mask"], output_names=["logits"], opset_version=18,
    )
    assert program is not None
    program.save(str(staging / "model.onnx"))
    for name in (*TOKENIZER_FILES, "config.json"):
        if (model / name).is_file():
            shutil.copy2(model / name, staging / name)
    if not (staging / "special_tokens_map.json").is_file():
        tokens = {k: v for k, v in json.loads(
            (model / "tokenizer_config.json").read_text(encoding="utf-8")
        ).items() if k.endswith("_token") and isinstance(v, str)}
        (staging / "special_tokens_map.json").write_text(json.dumps(tokens), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)


# -- running a peer ------------------------------------------------------------------------------


def run_peer(peer: str, kind: str, model: Path, texts_file: Path, work: Path) -> dict[str, Any]:
    """One peer (``st`` | ``fastembed``), ``kind`` ``encode`` (all texts in one call, as
    bench_encode measures) or ``latency`` (one query per call), in a fresh process."""
    out = work / f"peer-{peer}-{kind}.json"
    if peer == "fastembed":
        lacks = python_lacks(FASTEMBED_PYTHON, ("fastembed",))
        if lacks:
            raise RuntimeError(f"{lacks}: a venv with pip install fastembed==0.9.1, "
                               "or set SPLADEKIT_FASTEMBED_PYTHON")
        python, folder = str(FASTEMBED_PYTHON), logits_folder(model)
    else:
        python, folder = sys.executable, model
    command = [python, __file__, "--worker", peer, "--kind", kind, "--model", str(folder),
               "--texts", str(texts_file), "--out", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit {proc.returncode}")
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


class _Rows:
    """Per-text (indices, values) rows with the ``tocsr()`` that ``measure`` calls."""

    def __init__(self, rows: list[tuple[np.ndarray, np.ndarray]], dim: int) -> None:
        self.indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(i) for i, _ in rows], out=self.indptr[1:])
        cat = np.concatenate if rows else (lambda _: np.zeros(0))
        self.indices = cat([np.asarray(i, np.int32) for i, _ in rows]).astype(np.int32)
        self.data = cat([np.asarray(v, np.float32) for _, v in rows]).astype(np.float32)
        self.shape = (len(rows), dim)

    def tocsr(self) -> _Rows:
        return self


def _st_encoder(model: Path) -> tuple[Any, Any, Any]:
    from sentence_transformers import SparseEncoder

    encoder = SparseEncoder(str(model), device="cpu")

    def rows(vectors: Any) -> _Rows:
        vectors = vectors.coalesce()
        r, c = vectors.indices().numpy()
        v = vectors.values().numpy()
        n, dim = vectors.shape
        order = np.lexsort((c, r))
        bounds = np.searchsorted(r[order], np.arange(n + 1))
        return _Rows([(c[order][a:b], v[order][a:b]) for a, b in itertools.pairwise(bounds)], dim)

    def docs(texts: list[str]) -> _Rows:
        return rows(encoder.encode_document(texts, convert_to_sparse_tensor=True))

    def query(text: str) -> _Rows:
        return rows(encoder.encode_query([text], convert_to_sparse_tensor=True))

    return encoder, docs, query


def _fastembed_encoder(folder: Path) -> tuple[Any, Any, Any]:
    from fastembed import SparseTextEmbedding

    dim = int(json.loads((folder / "config.json").read_text(encoding="utf-8"))["vocab_size"])
    model = SparseTextEmbedding(
        FASTEMBED_MODEL, specific_model_path=str(folder), local_files_only=True
    )

    def docs(texts: list[str]) -> _Rows:
        found = model.embed(texts, batch_size=FASTEMBED_BATCH)
        return _Rows([(e.indices, e.values) for e in found], dim)

    def query(text: str) -> _Rows:
        return _Rows([(e.indices, e.values) for e in model.query_embed(text)], dim)

    return model, docs, query


def worker(peer: str, kind: str, model: Path, texts_file: Path, out: Path) -> None:
    from importlib import metadata

    from _reference_runner import latency_ms, measure

    texts = json.loads(texts_file.read_text(encoding="utf-8"))
    build = _st_encoder if peer == "st" else _fastembed_encoder
    package = "sentence-transformers" if peer == "st" else "fastembed"
    impl = f"{package} {metadata.version(package)}"
    holder: dict[str, Any] = {}

    def load() -> Any:
        holder["parts"] = build(model)
        return holder["parts"][1]

    if kind == "latency":
        _, _, query = build(model)
        times = latency_ms(query, texts)
        vectors = [query(t) for t in texts]
        rows = [(v.indices, v.data) for v in vectors]
        save_rows(rows, vectors[0].shape[1], out.with_suffix(".npz"))
        npz = str(out.with_suffix(".npz"))
        result: dict[str, Any] = {"impl": impl, "times_ms": times, "vectors": npz}
    else:
        result = measure(load, texts, out.with_suffix(".npz"))
        result.update(impl=impl, threads=os.cpu_count())
        if peer == "fastembed":
            result["settings"] = {"batch_size": FASTEMBED_BATCH, "onnx": "fp32 logits export"}
    out.write_text(json.dumps(result), encoding="utf-8")


def save_rows(rows: list[tuple[np.ndarray, np.ndarray]], dim: int, path: Path) -> None:
    matrix = _Rows(rows, dim)
    np.savez(path, indptr=matrix.indptr, indices=matrix.indices, data=matrix.data,
             shape=np.asarray(matrix.shape))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, help="model folder to export as ONNX logits")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--worker", choices=PEERS)
    parser.add_argument("--kind", choices=("encode", "latency"), default="encode")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--texts", type=Path)
    args = parser.parse_args()
    if args.export is not None:
        if args.out is None:
            print(logits_folder(args.export))
        else:
            export_logits(args.export, args.out)
        return
    worker(args.worker, args.kind, args.model, args.texts, args.out)


if __name__ == "__main__":
    main()
