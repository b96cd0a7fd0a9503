"""The inference-free model the benchmarks time: a document encoder plus SciFact IDF queries.

``cached_inference_free(model)`` builds it once with ``spladekit.build_inference_free(model,
SciFact corpus texts, folder)`` into ``~/.cache/spladekit/models/<name>-inference-free-scifact-
<key>``, where the key hashes the source folder's path, config and weight files (size and
modification time) and the corpus file's size, so a rebuilt source model gets a new folder.
The corpus texts are ``spladekit.evaluate.load_beir``'s (``title + " " + text``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

MODELS = Path.home() / ".cache" / "spladekit" / "models"
SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


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
    from spladekit.evaluate import load_beir

    model = Path(model).expanduser()
    folder = MODELS / f"{model.name}-inference-free-scifact-{_key(model, scifact / 'corpus.jsonl')}"
    if (folder / "modules.json").is_file():
        return folder, False
    corpus = load_beir(scifact, "test").corpus
    build_inference_free(model, (r.text for r in corpus), folder)
    return folder, True
