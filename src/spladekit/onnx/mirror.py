"""Export a model of any layout: the folder mirrored, each masked-LM replaced by its graph.

A sentence-transformers folder, a Router (query and document routes) or an OpenSearch folder
with ``idf.json`` is copied file by file into the output folder, except the masked-LMs' torch
weights: each masked-LM module folder becomes a spladekit ONNX export (``model.onnx``,
``spladekit_onnx.json``, its config and tokenizer) with that route's pooling in the graph.
:func:`spladekit.checkpoint.reader.read_spec` then reads the output as it read the source, and
each masked-LM route runs on ONNX Runtime; inference-free query routes stay lookups.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from ..checkpoint.spec import MlmRouteSpec, ModelSpec, PoolingSpec

ExportOne = Callable[[Path, Path, PoolingSpec], None]
"""(masked-LM folder, output folder, pooling) -> writes one spladekit ONNX export."""

_TORCH_WEIGHTS = (".safetensors", ".bin")


def mlm_routes(spec: ModelSpec) -> dict[Path, MlmRouteSpec]:
    """Each distinct masked-LM folder of the model, with its route."""
    found: dict[Path, MlmRouteSpec] = {}
    for route in (spec.document, spec.query):
        for mlm in route.masked_lms():
            found.setdefault(mlm.folder.resolve(), mlm)
    return found


def export_layout(spec: ModelSpec, out: Path, export_one: ExportOne) -> None:
    """Mirror ``spec.folder`` into ``out``, exporting every masked-LM module to ONNX."""
    root = spec.folder.resolve()
    mlms = mlm_routes(spec)
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        if path.parent.resolve() in mlms and path.name.endswith(_TORCH_WEIGHTS):
            continue  # the graph replaces these
        target = out / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    for folder, route in mlms.items():
        export_one(route.folder, out / folder.relative_to(root), route.pooling)


__all__ = ["ExportOne", "export_layout", "mlm_routes"]
