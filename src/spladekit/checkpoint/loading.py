"""Model loading: a hub id or local folder resolved, then the tokenizer and the masked-LM read
(safetensors first, no remote code)."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import (
    BrokenCheckpointError,
    InvalidArgumentError,
    ModelNotAvailableError,
    UnsupportedModelError,
    first_line,
)
from ..options import Precision
from .families import family_of_type, supported_model_types
from .known import DEFAULT_MODEL
from .sanity import check_coverage, check_shapes

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase




# Keyword arguments that decide *which files* are fetched; they apply to the tokenizer and the
# model alike because both are loaded from the one resolved folder.
HUB_KWARGS = ("revision", "token", "cache_dir", "local_files_only")

# What a SPLADE checkpoint needs; safetensors first, pickled weights only when no safetensors exist.
# The patterns match in route subfolders too (a Router's query_0_.../ and document_1_.../).
_CONFIG_PATTERNS = ["*.json", "*vocab.txt", "*.model", "*merges.txt"]


def _looks_like_path(name: str) -> bool:
    # Hub ids are "name" or "owner/name"; anything else is meant as a folder.
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def _offline_message(name: str, cause: BaseException) -> str:
    return (
        f"model {name!r} is not in the local Hugging Face cache and the Hub could not be reached "
        f"({type(cause).__name__}: {first_line(cause, 'no detail')}). "
        "Download it on a machine with Hub access (`hf download "
        f"{name} --local-dir ./{name.split('/')[-1]}`), copy the folder here and pass its path as "
        "model_name, or point HF_HOME at a cache that holds it."
    )


def resolve_model_dir(
    name_or_path: str | os.PathLike[str],
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
) -> Path:
    """Return a local folder holding the checkpoint, downloading it from the Hub when needed."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise InvalidArgumentError(
            f"model_name must be a Hugging Face id or a local folder path, got "
            f"{type(name_or_path).__name__}"
        )
    raw = os.fspath(name_or_path)
    path = Path(raw).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            raise ModelNotAvailableError(
                f"folder {str(path)!r} has no config.json (nor a sentence-transformers "
                "modules.json); pass a folder saved with save_pretrained (config.json, weights "
                "and tokenizer files) or with sentence-transformers"
            )
        return path
    if path.exists() or _looks_like_path(raw):
        raise ModelNotAvailableError(
            f"no model folder at {raw!r}; pass an existing folder or a Hugging Face id such as "
            f"{DEFAULT_MODEL!r}"
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    common: dict[str, Any] = {
        "revision": revision,
        "token": token,
        "cache_dir": cache_dir,
        "local_files_only": local_files_only,
    }
    try:
        folder = Path(
            snapshot_download(raw, allow_patterns=[*_CONFIG_PATTERNS, "*.safetensors"], **common)
        )
        if not any(folder.glob("*.safetensors")):
            # Older checkpoints (the naver ones among them) may only ship pickled weights.
            folder = Path(
                snapshot_download(
                    raw, allow_patterns=[*_CONFIG_PATTERNS, "*pytorch_model*.bin"], **common
                )
            )
    except GatedRepoError as exc:
        raise ModelNotAvailableError(
            f"model {raw!r} is gated on the Hub: accept its terms there and pass token=... "
            "(or log in with `hf auth login`)"
        ) from exc
    except RevisionNotFoundError as exc:
        raise ModelNotAvailableError(f"model {raw!r} has no revision {revision!r}") from exc
    except RepositoryNotFoundError as exc:
        raise ModelNotAvailableError(
            f"no model {raw!r} on the Hugging Face Hub (or it is private: pass token=...); "
            "check the id, or pass a local folder"
        ) from exc
    except HFValidationError as exc:
        raise ModelNotAvailableError(
            f"{raw!r} is neither an existing folder nor a valid Hugging Face id (owner/name)"
        ) from exc
    except OSError as exc:  # offline, DNS failure, missing cache entry, connection refused
        raise ModelNotAvailableError(_offline_message(raw, exc)) from exc
    return folder


# Model loading arguments spladekit passes to transformers' ``from_pretrained``; anything else
# is refused rather than passed on, where transformers would quietly take an unknown name for
# a configuration attribute.
MODEL_KWARGS = (
    "dtype", "attn_implementation", "use_safetensors", "variant", "subfolder", "proxies",
    "force_download", "low_cpu_mem_usage",
)


def split_load_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split user keyword arguments into hub-resolution ones and model ``from_pretrained`` ones."""
    hub = {k: kwargs[k] for k in HUB_KWARGS if k in kwargs}
    model = {k: v for k, v in kwargs.items() if k not in HUB_KWARGS}
    if model.pop("trust_remote_code", False):
        raise InvalidArgumentError(
            "trust_remote_code=True is refused: spladekit never runs code downloaded with a "
            f"model; use a masked-LM checkpoint of type {', '.join(supported_model_types())}"
        )
    if "torch_dtype" in model:  # the transformers 4 spelling of `dtype`
        model.setdefault("dtype", model.pop("torch_dtype"))
    unknown = sorted(set(model) - set(MODEL_KWARGS))
    if unknown:
        raise InvalidArgumentError(
            f"unsupported model loading argument(s) {', '.join(unknown)}; spladekit takes the "
            f"encoder options of EncoderConfig and the loading arguments "
            f"{', '.join(HUB_KWARGS + MODEL_KWARGS)}"
        )
    return hub, model


def load_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    """Load the (fast) tokenizer saved in ``folder``."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise ModelNotAvailableError(
            f"could not load a tokenizer from {str(folder)!r}: {exc}. The folder needs "
            "tokenizer.json (or vocab.txt) and tokenizer_config.json"
        ) from exc
    except Exception as exc:  # a damaged file fails anywhere inside the tokenizer libraries
        files = sorted(p.name for p in folder.glob("*") if p.name.startswith(_TOKENIZER_FILES))
        raise BrokenCheckpointError(
            f"the tokenizer files in {str(folder)!r} ({', '.join(files) or 'none'}) cannot be "
            f"read ({type(exc).__name__}: {first_line(exc, 'no detail')}); they are damaged: "
            "use the tokenizer files saved with the model"
        ) from exc


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide transformers' per-load "Loading weights" bar, restoring the user's setting after."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def load_masked_lm(folder: Path, **model_kwargs: Any) -> PreTrainedModel:
    """Load a masked-LM from ``folder`` in eval mode; safetensors preferred, no remote code.

    A checkpoint without its masked-LM head (a ``BertModel`` saved on its own, say) is refused:
    transformers would fill the head with random weights and every text would get tens of
    thousands of meaningless non-zero weights.
    """
    import transformers
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
    check_shapes(config, folder)
    if config.model_type not in supported_model_types():
        raise UnsupportedModelError(
            f"{str(folder)!r} is a {config.model_type!r} model; spladekit supports masked-LM "
            f"checkpoints of type {', '.join(supported_model_types())} (another backbone is "
            "one spladekit.checkpoint.register_family call)"
        )
    family = family_of_type(config.model_type)
    loader = getattr(transformers, family.masked_lm or "AutoModelForMaskedLM", None)
    if loader is None:
        raise UnsupportedModelError(
            f"the {family.name} family loads with transformers.{family.masked_lm}, which this "
            f"transformers {transformers.__version__} lacks; upgrade transformers"
        )
    try:
        with _quiet_loading():
            model, info = loader.from_pretrained(
                str(folder), trust_remote_code=False, output_loading_info=True, **model_kwargs
            )
    except TypeError as exc:
        raise InvalidArgumentError(f"unsupported model loading argument: {exc}") from exc
    except OSError as exc:
        raise ModelNotAvailableError(
            f"could not load weights from {str(folder)!r}: {exc}. The folder needs "
            "model.safetensors (or pytorch_model.bin)"
        ) from exc
    except (pickle.UnpicklingError, RuntimeError) as exc:
        if not isinstance(exc, pickle.UnpicklingError) and "weights_only" not in str(exc):
            raise
        raise BrokenCheckpointError(
            f"the pickled weights in {str(folder)!r} ({', '.join(_pickles(folder))}) hold more "
            "than tensors, and torch refuses to unpickle them safely; convert them to "
            "model.safetensors where they were made (save_pretrained(safe_serialization=True))"
        ) from None
    missing = sorted(
        k for k in info.get("missing_keys", ()) if k.startswith(family.head_prefixes)
    )
    if missing:
        raise UnsupportedModelError(
            f"{str(folder)!r} has no masked-LM head (missing {', '.join(missing[:3])}"
            f"{', ...' if len(missing) > 3 else ''}): it looks like a {config.model_type} "
            "encoder saved without its MLM head (as BertModel rather than BertForMaskedLM "
            "would be), which would give random weights; use a SPLADE checkpoint saved as a "
            "masked-LM"
        )
    check_coverage(
        info.get("missing_keys", ()), info.get("unexpected_keys", ()), folder, config.model_type
    )
    model.eval()
    return model


def _pickles(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.bin")) or ["pytorch_model.bin"]


# The names tokenizer files start with (tokenizer.json, tokenizer_config.json, vocab.txt,
# merges.txt, special_tokens_map.json, sentencepiece models).
_TOKENIZER_FILES = ("tokenizer", "vocab", "merges", "special_tokens", "added_tokens", "spiece")


_DTYPE_PRECISIONS: dict[str, Precision] = {
    "float32": "fp32",
    "float": "fp32",
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
}


def precision_from_dtype(dtype: object) -> Precision:
    """The precision a ``dtype``/``torch_dtype`` loading argument asks for."""
    name = str(dtype).removeprefix("torch.")
    found = _DTYPE_PRECISIONS.get(name)
    if found is None:
        raise InvalidArgumentError(
            f"dtype must be torch.float32, torch.bfloat16 or torch.float16 (or their names), "
            f"got {dtype!r}; or leave it out and pass precision='fp32', 'bf16' or 'fp16'"
        )
    return found




def load_static_weights(path: Path, tokenizer: PreTrainedTokenizerBase) -> NDArray[np.float32]:
    """The (vocab,) weight vector of a static route: safetensors ``weight`` or an IDF table."""
    size = len(tokenizer.get_vocab())
    if path.suffix == ".json":
        try:
            table = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelNotAvailableError(f"cannot read the IDF table {str(path)!r}: {exc}") from exc
        if not isinstance(table, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in table.values()
        ):
            raise ModelNotAvailableError(
                f"{str(path)!r} must map tokens to numbers ({{\"token\": weight}})"
            )
        weight = np.zeros(size, dtype=np.float32)
        # As sentence-transformers' SparseStaticEmbedding.from_json: a token the tokenizer does
        # not know maps to its unknown-token id.
        ids: list[int] = list(tokenizer.convert_tokens_to_ids(list(table)))  # type: ignore[arg-type]
        for token_id, value in zip(ids, table.values(), strict=True):
            if token_id is not None and 0 <= int(token_id) < size:
                weight[int(token_id)] = float(value)
        return weight
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
    except (OSError, ValueError) as exc:
        raise ModelNotAvailableError(f"cannot read {str(path)!r}: {exc}") from exc
    if "weight" not in tensors or tensors["weight"].ndim != 1:
        raise ModelNotAvailableError(
            f"{str(path)!r} holds no 1-D 'weight' tensor (found {sorted(tensors)}); a "
            "SparseStaticEmbedding saves one weight per vocabulary entry"
        )
    found: NDArray[np.float32] = np.ascontiguousarray(tensors["weight"], dtype=np.float32)
    found.setflags(write=False)
    return found


__all__ = [
    "load_masked_lm",
    "load_static_weights",
    "load_tokenizer",
    "precision_from_dtype",
    "resolve_model_dir",
    "split_load_kwargs",
]
