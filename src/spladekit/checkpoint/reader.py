"""What a checkpoint folder is, read once from what the folder says: :class:`ModelSpec`.

spladekit reads a folder the way sentence-transformers 6.2 reads it, and refuses by name
whatever part of a pipeline it does not implement, never loading part of one:

- a plain Hugging Face masked-LM folder (``config.json``, weights, tokenizer): one MLM route,
  max pooling of ``log1p(relu(x))``;
- the same with OpenSearch's ``idf.json`` beside it: documents through the model, queries by an
  IDF lookup of their tokens (inference-free);
- a sentence-transformers folder (``modules.json``): an MLM module (5.x ``MLMTransformer``, 6.x
  ``Transformer`` with ``transformer_task: "fill-mask"``) and a ``SpladePooling``, or a
  ``Router`` with a ``query`` and a ``document`` route, each an MLM route or a
  ``SparseStaticEmbedding`` (a weight per vocabulary entry, no model run);
- an ONNX export made by spladekit (see :mod:`spladekit.checkpoint.onnx_folder`) in place of
  any MLM module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ModelNotAvailableError, UnsupportedModelError
from ..options import ACTIVATIONS, Activation
from .onnx_folder import is_onnx_folder, read_metadata
from .sanity import inside
from .spec import (
    DEFAULT_POOLING,
    IDF_FILE,
    MODULES_FILE,
    POOLING_STRATEGIES,
    ROUTER_CONFIG,
    ST_MODEL_CONFIG,
    ST_MODULE_CONFIG,
    MlmRouteSpec,
    ModelSpec,
    PoolingSpec,
    RouteSpec,
    StaticRouteSpec,
)

# Module kinds by the last part of their sentence-transformers type name (5.x and 6.x spell
# the module paths differently; the class names are the same).
_MLM = {"MLMTransformer"}
_TRANSFORMER = {"Transformer"}
_POOLING = {"SpladePooling"}
_STATIC = {"SparseStaticEmbedding", "IDF"}
_ROUTER = {"Router", "Asym"}
_NOT_VOCABULARY = {
    "SparseAutoEncoder": "a CSR model (SparseAutoEncoder): its dimensions are learned features, "
    "not vocabulary entries",
    "Pooling": "a dense Pooling module: a dense embedding model, not a SPLADE one",
    "Dense": "a Dense module: a dense embedding head",
    "Normalize": "a Normalize module: dense embeddings",
}

def read_spec(folder: Path, *, activation: Activation | None = None) -> ModelSpec:
    """Read ``folder`` as sentence-transformers would; refuse what spladekit cannot run.

    ``activation`` overrides the activation of every MLM route: for plain folders, which cannot
    say (OpenSearch's v3 models want ``log1p_relu``), and for experiments.
    """
    spec = _read(folder, activation)
    # Every file a route reads (weights, tokenizer, configs) must lie in the folder, links
    # resolved: a link or a module config may not pull in files from elsewhere.
    routes = spec.routes().values()
    folders = {r.folder for r in routes}  # both sides often share one
    linked = {p for f in folders for p in f.iterdir() if p.is_symlink()}
    for path in sorted(linked | {p for r in routes for p in r.named_files()}):
        inside(folder, path, "the file")
    return spec


def _read(folder: Path, activation: Activation | None) -> ModelSpec:
    if (folder / MODULES_FILE).is_file():
        return _read_sentence_transformers(folder, activation)
    if not (folder / "config.json").is_file():
        raise ModelNotAvailableError(
            f"folder {str(folder)!r} has neither config.json nor modules.json; pass a folder "
            "saved with save_pretrained (config.json, weights, tokenizer files) or with "
            "sentence-transformers (modules.json)"
        )
    _refuse_custom_code(folder)
    pooling = PoolingSpec("max", activation or "relu")
    document = MlmRouteSpec(folder, pooling, None, False, ("masked-LM",))
    if (folder / IDF_FILE).is_file():
        query = StaticRouteSpec(folder, folder / IDF_FILE, None, ("idf.json",))
        return ModelSpec(folder, "opensearch-idf", query, document)
    return ModelSpec(folder, "huggingface", document, document)


def _read_sentence_transformers(folder: Path, activation: Activation | None) -> ModelSpec:
    entries = _modules(folder)
    _refuse_sparse_autoencoder(entries, folder)
    routed = [i for i, e in enumerate(entries) if _kind(e["type"]) == "router"]
    settings = _json(folder / ST_MODEL_CONFIG) if (folder / ST_MODEL_CONFIG).is_file() else {}
    prompts = _prompts(settings, folder)
    top_k = _max_active_dims(settings, folder)
    if not routed:
        route = _route(folder, entries, activation, "the model")
        return ModelSpec(folder, "sentence-transformers", route, route, prompts, top_k)
    if len(routed) > 1 or routed[0] != 0:
        raise UnsupportedModelError(
            f"{str(folder)!r}: modules.json places a Router at position {routed[0]} of "
            f"{len(entries)} (found {_names(entries)}); spladekit reads a Router as the first "
            "module only"
        )
    trailing = entries[1:]
    router_dir = _subdir(folder, entries[0]["path"])
    config = _router_config(router_dir)
    types: dict[str, str] = config.get("types") or {}
    structure: dict[str, list[str]] = config.get("structure") or {}
    if sorted(structure) != ["document", "query"]:
        raise UnsupportedModelError(
            f"{str(folder)!r}: the Router's routes are {sorted(structure)}; spladekit supports "
            "a Router with exactly a 'query' and a 'document' route"
        )
    routes: dict[str, RouteSpec] = {}
    for side in ("query", "document"):
        members = [
            {"type": types.get(module_id, "?"), "path": module_id}
            for module_id in structure[side]
        ]
        routes[side] = _route(router_dir, [*members, *trailing], activation, f"route {side!r}")
    return ModelSpec(folder, "router", routes["query"], routes["document"], prompts, top_k)


def _route(
    base: Path, entries: list[dict[str, Any]], activation: Activation | None, where: str
) -> RouteSpec:
    kinds = [_kind(e["type"]) for e in entries]
    names = tuple(_short(e["type"]) for e in entries)
    if kinds == ["static"]:
        module_dir = _subdir(base, entries[0]["path"])
        return _static_route(module_dir, names)
    if kinds == ["mlm", "pooling"]:
        mlm_dir = _subdir(base, entries[0]["path"])
        _refuse_custom_code(mlm_dir)
        config = _module_config(mlm_dir, entries[0]["type"])
        pooling = _pooling(_subdir(base, entries[1]["path"]), activation)
        length = config.get("max_seq_length")
        return MlmRouteSpec(
            mlm_dir,
            pooling,
            int(length) if isinstance(length, int) and length > 0 else None,
            bool(config.get("do_lower_case", False)),
            names,
        )
    raise UnsupportedModelError(
        f"{where} in {str(base)!r} is {' -> '.join(names) or 'empty'}; spladekit runs a masked-LM "
        "module followed by SpladePooling, or a SparseStaticEmbedding alone (inference-free)"
    )


def _static_route(module_dir: Path, names: tuple[str, ...]) -> StaticRouteSpec:
    config = _json(module_dir / "config.json") if (module_dir / "config.json").is_file() else {}
    path = config.get("path")
    if isinstance(path, str) and path.endswith(".json"):
        weights = module_dir / path
    else:
        weights = module_dir / "model.safetensors"
    if not weights.is_file():
        raise ModelNotAvailableError(
            f"the SparseStaticEmbedding in {str(module_dir)!r} has no weights ({weights.name} is "
            "missing); save it with sentence-transformers (model.safetensors with 'weight')"
        )
    return StaticRouteSpec(module_dir, weights, None, names)


def _refuse_sparse_autoencoder(entries: list[dict[str, Any]], folder: Path) -> None:
    # A CSR model also carries a masked-LM-looking Transformer and a dense Pooling; name what
    # it is, not the first module that does not fit.
    if any(_short(e["type"]) == "SparseAutoEncoder" for e in entries):
        raise UnsupportedModelError(
            f"{str(folder)!r} is a CSR model ({_names(entries)}): "
            f"{_NOT_VOCABULARY['SparseAutoEncoder']}; spladekit encodes SPLADE models "
            "(masked-LM + SpladePooling, or SparseStaticEmbedding)"
        )


def _kind(type_name: str) -> str:
    if not isinstance(type_name, str) or not type_name.startswith("sentence_transformers."):
        raise UnsupportedModelError(
            f"module type {type_name!r} is custom code (not a sentence-transformers module); "
            "spladekit never runs code shipped with a model"
        )
    short = _short(type_name)
    if short in _MLM or short in _TRANSFORMER:
        return "mlm"
    if short in _POOLING:
        return "pooling"
    if short in _STATIC:
        return "static"
    if short in _ROUTER:
        return "router"
    if short in _NOT_VOCABULARY:
        raise UnsupportedModelError(
            f"module {type_name!r} is {_NOT_VOCABULARY[short]}; spladekit encodes SPLADE models "
            "(masked-LM + SpladePooling, or SparseStaticEmbedding)"
        )
    raise UnsupportedModelError(
        f"module type {type_name!r} is not supported; spladekit reads MLMTransformer / "
        "Transformer (fill-mask), SpladePooling, SparseStaticEmbedding and Router modules"
    )


def _module_config(mlm_dir: Path, type_name: str) -> dict[str, Any]:
    path = mlm_dir / ST_MODULE_CONFIG
    config = _json(path) if path.is_file() else {}
    task = config.get("transformer_task")
    if _short(type_name) in _TRANSFORMER and task != "fill-mask":
        raise UnsupportedModelError(
            f"{str(mlm_dir)!r} is a Transformer module with transformer_task {task!r}: its "
            "outputs are hidden states, not vocabulary logits; a SPLADE model's Transformer has "
            "transformer_task 'fill-mask'"
        )
    if not (mlm_dir / "config.json").is_file():
        raise ModelNotAvailableError(f"the masked-LM module {str(mlm_dir)!r} has no config.json")
    return config


def _pooling(pool_dir: Path, activation: Activation | None) -> PoolingSpec:
    config = _json(pool_dir / "config.json") if (pool_dir / "config.json").is_file() else {}
    strategy = config.get("pooling_strategy", DEFAULT_POOLING.strategy)
    found = config.get("activation_function", DEFAULT_POOLING.activation)
    if strategy not in POOLING_STRATEGIES or found not in ACTIVATIONS:
        raise UnsupportedModelError(
            f"SpladePooling in {str(pool_dir)!r} asks for pooling_strategy {strategy!r} and "
            f"activation_function {found!r}; supported: pooling_strategy "
            f"{' or '.join(POOLING_STRATEGIES)}, activation_function {' or '.join(ACTIVATIONS)}"
        )
    return PoolingSpec(strategy, activation or found)


def _refuse_custom_code(folder: Path) -> None:
    config_path = folder / "config.json"
    if not config_path.is_file() or (is_onnx_folder(folder) and read_metadata(folder)):
        return
    config = _json(config_path)
    if config.get("auto_map"):
        raise UnsupportedModelError(
            f"{str(folder)!r} asks for custom code (auto_map in config.json: "
            f"{sorted(config['auto_map'])}); spladekit never runs code shipped with a model: use "
            "a checkpoint of a built-in transformers architecture"
        )


def _router_config(router_dir: Path) -> dict[str, Any]:
    for name in (ROUTER_CONFIG, "config.json"):
        path = router_dir / name
        if path.is_file():
            config = _json(path)
            if "types" in config and "structure" in config:
                return config
    raise ModelNotAvailableError(
        f"the Router in {str(router_dir)!r} has no router_config.json (or config.json with "
        "'types' and 'structure')"
    )


def _modules(folder: Path) -> list[dict[str, Any]]:
    raw = _json_any(folder / MODULES_FILE)
    if not isinstance(raw, list) or not all(
        isinstance(e, dict) and isinstance(e.get("type"), str) for e in raw
    ):
        raise ModelNotAvailableError(
            f"{str(folder / MODULES_FILE)!r} is not a sentence-transformers module list "
            "([{idx, name, path, type}, ...])"
        )
    entries = sorted(raw, key=lambda e: int(e.get("idx", 0)))
    for e in entries:
        e.setdefault("path", "")
    return entries


def _prompts(settings: dict[str, Any], folder: Path) -> dict[str, str]:
    prompts = settings.get("prompts") or {}
    if not isinstance(prompts, dict) or not all(isinstance(v, str) for v in prompts.values()):
        raise ModelNotAvailableError(
            f"{str(folder / ST_MODEL_CONFIG)!r}: prompts must map names to strings, got "
            f"{prompts!r}"
        )
    return {str(k): v for k, v in prompts.items()}


def _max_active_dims(settings: dict[str, Any], folder: Path) -> int | None:
    value = settings.get("max_active_dims")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ModelNotAvailableError(
            f"{str(folder / ST_MODEL_CONFIG)!r}: max_active_dims must be a positive integer, "
            f"got {value!r}"
        )
    return value


def _subdir(base: Path, relative: str) -> Path:
    path = (base / relative).resolve() if relative else base
    if relative and base.resolve() not in path.parents:
        raise ModelNotAvailableError(
            f"module path {relative!r} in {str(base)!r} leaves the model folder"
        )
    if not path.is_dir():
        raise ModelNotAvailableError(f"module folder {str(path)!r} named by the model is missing")
    return path


def _short(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1]


def _names(entries: list[dict[str, Any]]) -> str:
    return ", ".join(_short(e["type"]) for e in entries)


def _json(path: Path) -> dict[str, Any]:
    data = _json_any(path)
    if not isinstance(data, dict):
        raise ModelNotAvailableError(f"{str(path)!r} holds no JSON object")
    return data


def _json_any(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelNotAvailableError(f"cannot read {str(path)!r}: {exc}") from exc


__all__ = ["read_spec"]
