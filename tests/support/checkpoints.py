"""Small test checkpoints of every model family, each laid out as its publisher lays it out.

Every builder takes the folder to write and splade-tiny's folder and returns the folder it wrote.
Where sentence-transformers 6.2 writes a layout today, its own ``save`` writes it; older layouts
(5.x type names, a Router configuration named ``config.json``, a ``query_0_IDF/`` folder) and
OpenSearch's plain ``idf.json`` folders are written by hand, as those repositories hold them.

Families whose backbone is BERT use splade-tiny's real weights; the DistilBERT document encoder
and the RoBERTa, XLM-RoBERTa, CamemBERT and ModernBERT backbones are seeded random tiny models
with tokenizers trained here (tests/support/backbone_models.py).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sentence_transformers import SentenceTransformer, SparseEncoder
from sentence_transformers.sentence_transformer.modules import Pooling
from sentence_transformers.sparse_encoder.modules import (
    Router,
    SparseAutoEncoder,
    SparseStaticEmbedding,
    SpladePooling,
    Transformer,
)

from support.backbone_models import BACKBONES, tiny_distilbert_mlm

PROMPTS = {"query": "query: ", "document": "passage: "}
CAPPED_LENGTH = 32  # low enough that the long test text is truncated
MAX_ACTIVE_DIMS = 16  # below splade-tiny's usual count, so the cut shows
ST5_VERSION = {"sentence_transformers": "5.1.0", "transformers": "4.56.1", "pytorch": "2.8.0"}

# 5.x module type names, as modules.json and the Router's "types" of that time spell them.
ST5_MLM = "sentence_transformers.sparse_encoder.models.MLMTransformer"
ST5_POOLING = "sentence_transformers.sparse_encoder.models.SpladePooling"
ST5_STATIC = "sentence_transformers.sparse_encoder.models.SparseStaticEmbedding"
ST5_ROUTER = "sentence_transformers.models.Router"


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def copy_model(src: Path, out: Path) -> Path:
    """A plain Hugging Face folder: a copy of ``src``'s files (splade-tiny: model and tokenizer)."""
    out.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.is_file():
            shutil.copy2(item, out / item.name)
    return out


def mlm(folder: Path, **kwargs: Any) -> Transformer:
    return Transformer(str(folder), transformer_task="fill-mask", **kwargs)


def idf_weights(vocab_size: int, special_ids: list[int], seed: int = 7) -> torch.Tensor:
    """An IDF-like weight per vocabulary entry (seeded), 0 for special tokens."""
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.5, 8.0, size=vocab_size).astype(np.float32)
    weights[special_ids] = 0.0
    return torch.from_numpy(weights)


def save(out: Path, modules: list[Any], **kwargs: Any) -> Path:
    """A SparseEncoder of ``modules`` as sentence-transformers 6.2 saves it, in ``out``."""
    SparseEncoder(modules=modules, **kwargs).save(str(out))
    return out


def save_router(
    out: Path, query: list[Any], document: list[Any], similarity_fn_name: str | None = "dot"
) -> Path:
    """A query/document Router as 6.2 saves it, in ``out``."""
    router = Router.for_query_document(query_modules=query, document_modules=document)
    return save(out, [router], similarity_fn_name=similarity_fn_name)


def write_st5_pooling(folder: Path) -> None:
    """SpladePooling's 5.x configuration (max, relu, splade-tiny's vocabulary) in ``folder``."""
    write_json(folder / "config.json", {
        "pooling_strategy": "max", "activation_function": "relu",
        "word_embedding_dimension": 30522,
    })


def static_embedding(tokenizer_folder: Path) -> SparseStaticEmbedding:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_folder))
    weight = idf_weights(len(tokenizer.get_vocab()), list(tokenizer.all_special_ids))
    return SparseStaticEmbedding(tokenizer=tokenizer, weight=weight, frozen=True)


# -- a-e: one masked LM and SpladePooling ----------------------------------------------------


def plain_hf(out: Path, tiny: Path) -> Path:
    """(a) splade-tiny as Hugging Face holds it: config, weights, tokenizer; nothing else."""
    return copy_model(tiny, out)


def st6(out: Path, tiny: Path) -> Path:
    """(b) sentence-transformers 6.x: Transformer(fill-mask) + SpladePooling, saved by 6.2.

    The length cap (32) is written by 6.2 into tokenizer_config.json's ``model_max_length``
    (6.2 writes neither ``max_seq_length`` nor ``do_lower_case`` to sentence_bert_config.json);
    prompts and ``max_active_dims`` go to config_sentence_transformers.json.
    """
    transformer = mlm(tiny, max_seq_length=CAPPED_LENGTH, do_lower_case=True)
    return save(out, [transformer, SpladePooling("max")], prompts=PROMPTS,
                max_active_dims=MAX_ACTIVE_DIMS)


def st5(out: Path, tiny: Path) -> Path:
    """(c) the 5.x layout, by hand: MLMTransformer/SpladePooling under their 5.x type names.

    sentence_bert_config.json holds ``max_seq_length`` (32, while the tokenizer says 512) and
    ``do_lower_case: true`` over a tokenizer whose own normalizer keeps case, so both show.
    """
    copy_model(tiny, out)
    tokenizer = read_json(out / "tokenizer.json")
    tokenizer["normalizer"]["lowercase"] = False
    write_json(out / "tokenizer.json", tokenizer)
    tokenizer_config = read_json(out / "tokenizer_config.json")
    tokenizer_config["do_lower_case"] = False
    write_json(out / "tokenizer_config.json", tokenizer_config)
    write_json(out / "sentence_bert_config.json",
               {"max_seq_length": CAPPED_LENGTH, "do_lower_case": True})
    write_json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": ST5_MLM},
        {"idx": 1, "name": "1", "path": "1_SpladePooling", "type": ST5_POOLING},
    ])
    write_st5_pooling(out / "1_SpladePooling")
    write_json(out / "config_sentence_transformers.json", {
        "model_type": "SparseEncoder", "__version__": ST5_VERSION, "prompts": PROMPTS,
        "default_prompt_name": None, "similarity_fn_name": "dot",
    })
    return out


def _single_route(out: Path, tiny: Path, pooling: SpladePooling) -> Path:
    return save(out, [mlm(tiny), pooling])


def sum_pooling(out: Path, tiny: Path) -> Path:
    """(d) SpladePooling(pooling_strategy="sum"), the original SPLADE's."""
    return _single_route(out, tiny, SpladePooling("sum"))


def log1p_relu(out: Path, tiny: Path) -> Path:
    """(e) SpladePooling(activation_function="log1p_relu"), OpenSearch v3's activation."""
    return _single_route(out, tiny, SpladePooling("max", activation_function="log1p_relu"))


# -- f-i: a query route and a document route -------------------------------------------------


def router_idf(out: Path, tiny: Path) -> Path:
    """(f) inference-free, as 6.x saves it: Router with a SparseStaticEmbedding query route
    (IDF-like weights, its own tokenizer files) and an MLM + SpladePooling document route;
    the Router's configuration is router_config.json and the root has no config.json."""
    return save_router(
        out, [static_embedding(tiny)],
        [mlm(tiny), SpladePooling("max", activation_function="log1p_relu")],
    )


def router_idf_5x(out: Path, tiny: Path) -> Path:
    """(g) the older inference-free layout: the Router's configuration named config.json, the
    query module in ``query_0_IDF/``, 5.x type names, 5.x MLM and pooling configurations."""
    save_router(out, [static_embedding(tiny)], [mlm(tiny), SpladePooling("max")])
    renames = {
        "query_0_SparseStaticEmbedding": ("query_0_IDF", ST5_STATIC),
        "document_0_Transformer": ("document_0_MLMTransformer", ST5_MLM),
        "document_1_SpladePooling": ("document_1_SpladePooling", ST5_POOLING),
    }
    config = read_json(out / "router_config.json")
    (out / "router_config.json").unlink()
    for old, (new, _) in renames.items():
        if old != new:
            (out / old).rename(out / new)
    config["types"] = {new: type_name for new, type_name in renames.values()}
    config["structure"] = {
        route: [renames[m][0] for m in modules] for route, modules in config["structure"].items()
    }
    write_json(out / "config.json", config)
    doc = out / "document_0_MLMTransformer"
    write_json(doc / "sentence_bert_config.json", {"max_seq_length": 512, "do_lower_case": False})
    write_st5_pooling(out / "document_1_SpladePooling")
    write_json(out / "modules.json",
               [{"idx": 0, "name": "0", "path": "", "type": ST5_ROUTER}])
    settings = read_json(out / "config_sentence_transformers.json")
    settings["__version__"] = ST5_VERSION
    write_json(out / "config_sentence_transformers.json", settings)
    return out


QUERY_LENGTH, DOCUMENT_LENGTH = 24, 48


def router_two_encoders(out: Path, tiny: Path) -> Path:
    """(h) efficient-SPLADE: a BERT query encoder (splade-tiny, 24 tokens) and a seeded random
    DistilBERT document encoder on splade-tiny's vocabulary (48 tokens), each + SpladePooling."""
    distil = tiny_distilbert_mlm(out.parent / f"{out.name}-distilbert-doc", tiny)
    return save_router(
        out, [mlm(tiny, max_seq_length=QUERY_LENGTH), SpladePooling("max")],
        [mlm(distil, max_seq_length=DOCUMENT_LENGTH), SpladePooling("max")],
    )


def opensearch_idf_json(out: Path, tiny: Path) -> Path:
    """(i) OpenSearch v1/v2 doc-only models as published: a masked-LM folder and idf.json
    ({token: weight}), no sentence-transformers files; documents get log1p(relu) max pooling."""
    copy_model(tiny, out)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(out))
    vocab = tokenizer.get_vocab()
    weights = idf_weights(len(vocab), list(tokenizer.all_special_ids))
    idf = {token: float(weights[i]) for token, i in sorted(vocab.items(), key=lambda x: x[1])
           if weights[i] > 0}
    write_json(out / "idf.json", idf)
    return out


def opensearch_reference(folder: Path) -> SparseEncoder:
    """How sentence-transformers reads (i): its documented recipe for OpenSearch's idf.json
    (``SparseEncoder(folder)`` alone ignores idf.json and would run the MLM on queries)."""
    doc = mlm(folder)
    router = Router.for_query_document(
        query_modules=[SparseStaticEmbedding.from_json(
            str(folder / "idf.json"), tokenizer=doc.tokenizer, frozen=True)],
        document_modules=[doc, SpladePooling("max")],
    )
    return SparseEncoder(modules=[router], similarity_fn_name="dot")


def backbone_st(out: Path, raw: Path) -> Path:
    """(j) a random masked LM of tests/support/backbone_models.py (the folder ``raw``) in
    sentence-transformers layout (fill-mask + pooling)."""
    return save(out, [mlm(raw), SpladePooling("max")])


# -- k: folders spladekit must refuse, by name -----------------------------------------------


def csr(out: Path, tiny: Path) -> Path:
    """A CSR model: Transformer (hidden states) + mean Pooling + SparseAutoEncoder."""
    return save(out, [
        Transformer(str(tiny)), Pooling(128, "mean"),
        SparseAutoEncoder(input_dim=128, hidden_dim=512, k=32, k_aux=64),
    ])


def dense_pooling(out: Path, tiny: Path) -> Path:
    """A dense sentence-transformers model: Transformer + Pooling (no SpladePooling)."""
    SentenceTransformer(modules=[Transformer(str(tiny)), Pooling(128, "cls")]).save(str(out))
    return out


def auto_map(out: Path, tiny: Path) -> Path:
    """A Hugging Face folder whose config.json asks for custom modelling code (auto_map)."""
    copy_model(tiny, out)
    config = read_json(out / "config.json")
    config["auto_map"] = {"AutoModelForMaskedLM": "modeling_custom.CustomBertForMaskedLM"}
    write_json(out / "config.json", config)
    (out / "modeling_custom.py").write_text(
        "from transformers import BertForMaskedLM\n\n\n"
        "class CustomBertForMaskedLM(BertForMaskedLM):\n    pass\n",
        encoding="utf-8",
    )
    return out


CUSTOM_MODULE_TYPE = "custom_pooling.CustomSpladePooling"


def _pooling_typed(out: Path, tiny: Path, type_name: str) -> Path:
    """splade-tiny + SpladePooling, with modules.json naming the pooling module ``type_name``."""
    _single_route(out, tiny, SpladePooling("max"))
    modules = read_json(out / "modules.json")
    modules[1]["type"] = type_name
    write_json(out / "modules.json", modules)
    return out


def custom_module(out: Path, tiny: Path) -> Path:
    """A sentence-transformers folder whose pooling module is custom code in the repository."""
    _pooling_typed(out, tiny, CUSTOM_MODULE_TYPE)
    (out / "custom_pooling.py").write_text(
        "from sentence_transformers.sparse_encoder.modules import SpladePooling\n\n\n"
        "class CustomSpladePooling(SpladePooling):\n    pass\n",
        encoding="utf-8",
    )
    return out


UNKNOWN_MODULE_TYPE = "sentence_transformers.sparse_encoder.modules.FancyPooling"


def unknown_module(out: Path, tiny: Path) -> Path:
    """A module type that neither spladekit nor sentence-transformers knows."""
    return _pooling_typed(out, tiny, UNKNOWN_MODULE_TYPE)


def normalize_after_pooling(out: Path, tiny: Path) -> Path:
    """SpladePooling followed by Normalize: a module that changes the vectors, not supported."""
    from sentence_transformers.base.modules.normalize import Normalize

    return save(out, [mlm(tiny), SpladePooling("max"), Normalize()])


def router_three_routes(out: Path, tiny: Path) -> Path:
    """A Router with a third route ("title") next to query and document."""
    transformer, pooling = mlm(tiny), SpladePooling("max")
    router = Router(sub_modules={
        "query": [static_embedding(tiny)],
        "document": [transformer, pooling],
        "title": [transformer, pooling],
    }, default_route="document")
    return save(out, [router])


def router_query_two_mlms(out: Path, tiny: Path) -> Path:
    """A Router whose query route is two masked LMs in a row before the pooling."""
    return save_router(out, [mlm(tiny), mlm(tiny), SpladePooling("max")],
                       [mlm(tiny), SpladePooling("max")], similarity_fn_name=None)


# name -> builder. FAMILIES (these and one per backbone, written by backbone_st) load in
# sentence-transformers 6.2 and must give its vectors; REFUSALS must be refused with
# UnsupportedModelError naming what was found.
Builder = Callable[[Path, Path], Path]
BUILDERS: dict[str, Builder] = {
    "plain-hf": plain_hf,
    "st6": st6,
    "st5": st5,
    "sum-pooling": sum_pooling,
    "log1p-relu": log1p_relu,
    "router-idf": router_idf,
    "router-idf-5x": router_idf_5x,
    "router-two-encoders": router_two_encoders,
    "opensearch-idf-json": opensearch_idf_json,
}
FAMILIES: tuple[str, ...] = (*BUILDERS, *BACKBONES)
REFUSALS: dict[str, Builder] = {
    "csr": csr,
    "dense-pooling": dense_pooling,
    "auto-map": auto_map,
    "custom-module": custom_module,
    "unknown-module": unknown_module,
    "normalize": normalize_after_pooling,
    "router-three-routes": router_three_routes,
    "router-query-two-mlms": router_query_two_mlms,
}


class Checkpoints:
    """Builds each checkpoint once, on first use, under ``root``; the backbones' from the
    session's raw backbone folders (``backbones``: name -> folder, the ``backbone_dirs``
    fixture)."""

    def __init__(self, root: Path, tiny: Path, backbones: Mapping[str, Path]) -> None:
        self.root, self.tiny, self.backbones = root, tiny, backbones
        self._built: dict[str, Path] = {}

    def __call__(self, name: str) -> Path:
        if name not in self._built:
            out = self.root / name
            if name in BACKBONES:
                self._built[name] = backbone_st(out, self.backbones[name])
            else:
                self._built[name] = (BUILDERS.get(name) or REFUSALS[name])(out, self.tiny)
        return self._built[name]


def load_reference(name: str, folder: Path) -> SparseEncoder:
    """The family as sentence-transformers 6.2 loads it."""
    if name == "opensearch-idf-json":
        return opensearch_reference(folder)
    return SparseEncoder(str(folder), local_files_only=True)
