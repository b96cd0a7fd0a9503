"""Build an inference-free model: any SPLADE document encoder plus an IDF query side.

:func:`build_inference_free` writes a sentence-transformers ``Router`` folder: the document
route is the given model's masked-LM and pooling, unchanged; the query route is a
``SparseStaticEmbedding`` whose weight for token ``v`` is its IDF in the corpus given,
``ln(1 + (N - df + 0.5) / (df + 0.5))`` (BM25's, always positive). A query then costs a
tokenizer call and a table lookup. spladekit and sentence-transformers 6.2 both load the folder.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .checkpoint.loading import load_tokenizer, resolve_model_dir
from .checkpoint.reader import read_spec
from .checkpoint.spec import MlmRouteSpec
from .errors import InvalidArgumentError, UnsupportedModelError
from .tokenize import TokenIds
from .validation import text_list

_ST = "sentence_transformers."
_TYPES = {
    "router": _ST + "base.modules.router.Router",
    "static": _ST + "sparse_encoder.modules.sparse_static_embedding.SparseStaticEmbedding",
    "transformer": _ST + "base.modules.transformer.Transformer",
    "pooling": _ST + "sparse_encoder.modules.splade_pooling.SpladePooling",
}
QUERY_DIR = "query_0_SparseStaticEmbedding"
DOCUMENT_DIR = "document_0_Transformer"
POOLING_DIR = "document_1_SpladePooling"
# Texts tokenised per call while counting document frequencies.
_CHUNK = 1024


def corpus_idf(texts: Iterable[str], tokens: TokenIds, vocab_size: int) -> NDArray[np.float32]:
    """BM25's IDF of every vocabulary entry over ``texts`` (tokens without [CLS]/[SEP])."""
    df = np.zeros(vocab_size, dtype=np.int64)
    n = 0
    chunk: list[str] = []

    def count(batch: list[str]) -> None:
        for ids in tokens.content(batch):
            present = np.unique(np.asarray(ids, dtype=np.int64))
            df[present[(present >= 0) & (present < vocab_size)]] += 1

    for text in texts:
        if not isinstance(text, str):
            raise InvalidArgumentError(
                f"corpus texts must be str, got {type(text).__name__} at position {n}"
            )
        chunk.append(text)
        n += 1
        if len(chunk) == _CHUNK:
            count(chunk)
            chunk = []
    count(chunk)
    if n == 0:
        raise InvalidArgumentError("the corpus is empty; IDF needs at least one text")
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    return idf.astype(np.float32)


def build_inference_free(
    document_model: str | os.PathLike[str],
    texts: Iterable[str],
    out_dir: str | os.PathLike[str],
) -> Path:
    """Write an inference-free Router model to ``out_dir``; returns the folder.

    ``document_model`` is any SPLADE model spladekit reads (its document route must be a
    masked-LM); ``texts`` is the corpus whose IDF weights the queries. ``out_dir`` must not
    exist yet or be empty.
    """
    source = read_spec(resolve_model_dir(document_model))
    mlms = source.document.masked_lms()
    if not mlms:
        raise UnsupportedModelError(
            f"{os.fspath(document_model)!r} has no masked-LM document route; an inference-free "
            "model needs a SPLADE document encoder"
        )
    route = mlms[0]
    if route.onnx:
        raise UnsupportedModelError(
            "build the inference-free model from the torch checkpoint, then export it to ONNX"
        )
    out = Path(out_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidArgumentError(f"out_dir {str(out)!r} exists and is not an empty folder")
    if isinstance(texts, str):
        text_list(texts, "texts")  # raises the usual "a list of str, got str" error
    tokenizer = load_tokenizer(route.folder)
    tokens = TokenIds(tokenizer, lowercase=route.do_lower_case)
    weight = corpus_idf(texts, tokens, len(tokenizer.get_vocab()))

    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _write(staging, route, tokenizer, weight)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _write(out: Path, route: MlmRouteSpec, tokenizer: object, weight: NDArray[np.float32]) -> None:
    from safetensors.numpy import save_file

    document = out / DOCUMENT_DIR
    shutil.copytree(route.folder, document, ignore=_not_model_files)
    module: dict[str, object] = {"transformer_task": "fill-mask"}
    if route.max_seq_length is not None:
        module["max_seq_length"] = route.max_seq_length
    if route.do_lower_case:
        module["do_lower_case"] = True
    _dump(document / "sentence_bert_config.json", module)
    _dump(
        out / POOLING_DIR / "config.json",
        {
            "pooling_strategy": route.pooling.strategy,
            "activation_function": route.pooling.activation,
            "embedding_dimension": int(weight.shape[0]),
        },
    )
    query = out / QUERY_DIR
    query.mkdir()
    tokenizer.save_pretrained(str(query))  # type: ignore[attr-defined]
    save_file({"weight": np.ascontiguousarray(weight)}, str(query / "model.safetensors"))
    _dump(query / "config.json", {"frozen": True})
    _dump(
        out / "router_config.json",
        {
            "types": {
                QUERY_DIR: _TYPES["static"],
                DOCUMENT_DIR: _TYPES["transformer"],
                POOLING_DIR: _TYPES["pooling"],
            },
            "structure": {"query": [QUERY_DIR], "document": [DOCUMENT_DIR, POOLING_DIR]},
            "parameters": {"default_route": "document", "allow_empty_key": True},
        },
    )
    _dump(out / "modules.json", [{"idx": 0, "name": "0", "path": "", "type": _TYPES["router"]}])
    _dump(
        out / "config_sentence_transformers.json",
        {"model_type": "SparseEncoder", "prompts": {}, "similarity_fn_name": "dot"},
    )


def _not_model_files(folder: str, names: list[str]) -> list[str]:
    # Only the masked-LM's own files travel: no sentence-transformers configs of the source
    # (they describe its layout, not the new one), no subfolders of other modules.
    keep = {"config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json",
            "vocab.txt", "merges.txt", "vocab.json", "sentencepiece.bpe.model", "spm.model",
            "added_tokens.json", "generation_config.json"}
    return [
        n for n in names
        if not (n in keep or n.endswith((".safetensors", ".bin")))
        or (Path(folder) / n).is_dir()
    ]


def _dump(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


__all__ = ["build_inference_free", "corpus_idf"]
