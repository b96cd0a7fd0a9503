"""Backbone families as data: what spladekit needs to know about a masked-LM architecture.

One :class:`BackboneFamily` per architecture, keyed by transformers' ``model_type``. Every
part of spladekit that depends on the architecture reads this table and nothing else:

- loading (:func:`~spladekit.checkpoint.loading.load_masked_lm`): which ``model_type`` values
  are accepted, which masked-LM class loads them, which parameters form the MLM head (a
  checkpoint without them is refused);
- pooling (:func:`~spladekit.pooling.split_mlm`): where the encoder, the head transform and the
  vocabulary projection sit in the loaded model;
- the lean backend (:mod:`spladekit.backends.lean`): which encoder layout it can run fast;
- the ONNX exporter: whether the family exports, and how long an input its positions allow.

Adding a backbone is one :func:`register_family` call (or one entry below); no module switches
on ``model_type``. Register before loading a model of that family.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidArgumentError, UnsupportedModelError

LeanLayout = Literal["bert", "distilbert"]
"""Encoder layouts the lean forward runs: BERT's (embeddings, post-norm layers with
``attention.self``/``attention.output``/``intermediate``/``output``) and DistilBERT's."""


@dataclass(frozen=True)
class HeadPaths:
    """Attribute paths, from the loaded ``*ForMaskedLM``, of the MLM head's parts.

    The head computes ``decoder(norm(activation(dense(hidden))))``. ``activation`` is an
    attribute path to a callable, or ``"gelu"`` for the exact GELU of ``torch.nn.functional``
    (the RoBERTa head calls it directly rather than holding it).
    """

    dense: str
    activation: str
    norm: str
    decoder: str


@dataclass(frozen=True)
class BackboneFamily:
    """What one masked-LM architecture needs.

    - ``model_types``: transformers' ``config.model_type`` values of the family;
    - ``base``: attribute of the ``*ForMaskedLM`` holding the encoder (called with
      ``input_ids``/``attention_mask``, returning ``last_hidden_state``);
    - ``head``: the MLM head's parts; ``head_prefixes``: parameter-name prefixes of the head,
      which a checkpoint must carry;
    - ``lean``: the encoder layout the lean backend runs (``None``: transformers' forward);
    - ``positions_after_padding``: position ids start after the padding id (RoBERTa), which
      shortens the longest input by ``pad_token_id + 1``;
    - ``onnx``: whether the ONNX exporter traces the family;
    - ``tokens``: the special-token template of its tokenizer, for messages and docs;
    - ``masked_lm``: the name of the transformers class that loads it (``None``:
      ``AutoModelForMaskedLM`` picks the class the config names).
    """

    name: str
    model_types: tuple[str, ...]
    base: str
    head: HeadPaths
    head_prefixes: tuple[str, ...]
    lean: LeanLayout | None = None
    positions_after_padding: bool = False
    onnx: bool = True
    tokens: str = "[CLS] text [SEP]"
    masked_lm: str | None = None


_BUILT_IN = (
    BackboneFamily(
        "BERT", ("bert",), "bert",
        HeadPaths(
            "cls.predictions.transform.dense", "cls.predictions.transform.transform_act_fn",
            "cls.predictions.transform.LayerNorm", "cls.predictions.decoder",
        ),
        ("cls.predictions.",), lean="bert",
    ),
    BackboneFamily(
        "DistilBERT", ("distilbert",), "distilbert",
        HeadPaths("vocab_transform", "activation", "vocab_layer_norm", "vocab_projector"),
        ("vocab_transform.", "vocab_layer_norm.", "vocab_projector."), lean="distilbert",
    ),
    # One architecture under three names.
    BackboneFamily(
        "RoBERTa", ("roberta", "xlm-roberta", "camembert"), "roberta",
        HeadPaths("lm_head.dense", "gelu", "lm_head.layer_norm", "lm_head.decoder"),
        ("lm_head.",), lean="bert", positions_after_padding=True, tokens="<s> text </s>",
    ),
    BackboneFamily(
        "ModernBERT", ("modernbert",), "model",
        HeadPaths("head.dense", "head.act", "head.norm", "decoder"),
        ("head.", "decoder."),
    ),
)

_LOCK = threading.Lock()
_FAMILIES: dict[str, BackboneFamily] = {t: f for f in _BUILT_IN for t in f.model_types}


def register_family(family: BackboneFamily, *, replace: bool = False) -> None:
    """Make spladekit run models whose ``model_type`` is one of ``family.model_types``.

    A type already registered is refused unless ``replace`` (the built-in families included).
    """
    if not isinstance(family, BackboneFamily):
        raise InvalidArgumentError(
            f"register_family takes a BackboneFamily, got {type(family).__name__}"
        )
    with _LOCK:
        taken = [t for t in family.model_types if t in _FAMILIES and not replace]
        if taken:
            raise InvalidArgumentError(
                f"model_type {', '.join(map(repr, taken))} is already registered (as "
                f"{_FAMILIES[taken[0]].name}); pass replace=True to replace it"
            )
        for model_type in family.model_types:
            _FAMILIES[model_type] = family


def unregister_family(family: BackboneFamily) -> None:
    """Forget ``family``'s model types (those still registered to it)."""
    with _LOCK:
        for model_type in family.model_types:
            if _FAMILIES.get(model_type) is family:
                del _FAMILIES[model_type]


def supported_model_types() -> tuple[str, ...]:
    """Every ``model_type`` spladekit runs, in registration order."""
    with _LOCK:
        return tuple(_FAMILIES)


def family_of_type(model_type: object) -> BackboneFamily:
    """The family of a ``model_type``, or :class:`UnsupportedModelError` naming the supported
    ones."""
    with _LOCK:
        found = _FAMILIES.get(model_type) if isinstance(model_type, str) else None
        known = ", ".join(_FAMILIES)
    if found is None:
        raise UnsupportedModelError(
            f"spladekit runs masked-LM models of type {known}; got {model_type!r} "
            "(a new backbone is one spladekit.checkpoint.register_family call)"
        )
    return found


__all__ = [
    "BackboneFamily",
    "HeadPaths",
    "LeanLayout",
    "family_of_type",
    "register_family",
    "supported_model_types",
    "unregister_family",
]
