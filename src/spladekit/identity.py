"""A model's identity: one fingerprint over every route of its folder (and its IDF table).

What a collection records and checks (:class:`~spladekit.models.ModelIdentity`). The encoder
and the Ray driver, which records the model before any worker loads it, both take it from
here, so a collection indexed on Ray accepts the encoder of the same folder.
"""

from __future__ import annotations

import hashlib
import os

from .layout import MlmRouteSpec, ModelSpec, RouteSpec, read_spec
from .models import ModelIdentity, model_fingerprint, resolve_model_dir


def spec_fingerprint(spec: ModelSpec) -> str:
    """One identity for every route of a model (and its IDF table).

    A one-model folder keeps the fingerprint of its weights, so collections built before
    routes existed still match.
    """
    document = _route_fingerprint(spec.document)
    if spec.symmetric:
        return document
    both = f"document:{document}|query:{_route_fingerprint(spec.query)}"
    return hashlib.sha256(both.encode()).hexdigest()[:16]


def model_identity(model: str | os.PathLike[str]) -> ModelIdentity:
    """The identity of a model name or folder, as :class:`~spladekit.SpladeEncoder` reports it."""
    return ModelIdentity(os.fspath(model), spec_fingerprint(read_spec(resolve_model_dir(model))))


def _route_fingerprint(spec: RouteSpec) -> str:
    if isinstance(spec, MlmRouteSpec):
        return model_fingerprint(spec.folder)
    digest = hashlib.sha256()
    with open(spec.weights, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


__all__ = ["model_identity", "spec_fingerprint"]
