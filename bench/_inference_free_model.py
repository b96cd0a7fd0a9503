"""The inference-free model the benchmarks time: a document encoder plus SciFact IDF queries.

``cached_inference_free(model)`` builds it once with ``spladekit.build_inference_free(model,
SciFact corpus texts, folder)`` into ``<model cache>/<name>-inference-free-scifact-<key>``
(``_common.MODELS``: ``~/.cache/spladekit/models`` or ``$SPLADEKIT_MODELS_DIR``), where the key
hashes the source folder's path, config and weight files (size and modification time) and the
corpus file's size, so a rebuilt source model gets a new folder. The corpus texts are
``_common.scifact_documents``' (``spladekit.corpus``: ``title + " " + text``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from _common import MODELS, SCIFACT, scifact_documents


def _key(model: Path, corpus: Path) -> str:
    digest = hashlib.sha256(str(model.resolve()).encode())
    for path in sorted(model.rglob("*")):
        if path.is_file() and (path.suffix in (".json", ".safetensors", ".bin")):
            stat = path.stat()
            digest.update(f"{path.relative_to(model)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update(str(corpus.stat().st_size).encode())
    return digest.hexdigest()[:10]


def cached_inference_free(model: Path, scifact: Path = SCIFACT) -> tuple[Path, bool]:
    """The folder of ``model``'s inference-free variant and whether it was built just now."""
    from spladekit import build_inference_free

    model = Path(model).expanduser()
    folder = MODELS / f"{model.name}-inference-free-scifact-{_key(model, scifact / 'corpus.jsonl')}"
    if (folder / "modules.json").is_file():
        return folder, False
    build_inference_free(model, scifact_documents(folder=scifact), folder)
    return folder, True
