"""What a model is, read from its folder before any weights load.

- :mod:`.spec`: the folder read as sentence-transformers reads it (:class:`ModelSpec`, routes,
  pooling), refusing by name what spladekit cannot run;
- :mod:`.families`: the backbone families, as data (:func:`register_family` adds one);
- :mod:`.loading`: resolving a hub id or folder, loading the tokenizer and the masked-LM;
- :mod:`.fingerprint` and :mod:`.identity`: the digest of a model's files and the identity a
  collection records (:class:`ModelIdentity`);
- :mod:`.known`: the published checkpoints, as data; :mod:`.description`: a loaded model in
  words (:class:`ModelDescription`);
- :mod:`.onnx_folder`: what a spladekit ONNX export holds and how its files are found.

Nothing here imports torch or transformers at import time.
"""

from __future__ import annotations

from .families import (
    BackboneFamily,
    HeadPaths,
    family_of_type,
    register_family,
    supported_model_types,
    unregister_family,
)
from .identity import ModelIdentity, model_identity
from .known import DEFAULT_MODEL, KNOWN_MODELS

__all__ = [
    "DEFAULT_MODEL",
    "KNOWN_MODELS",
    "BackboneFamily",
    "HeadPaths",
    "ModelIdentity",
    "family_of_type",
    "model_identity",
    "register_family",
    "supported_model_types",
    "unregister_family",
]
