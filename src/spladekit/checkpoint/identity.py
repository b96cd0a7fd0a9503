"""A model's identity: which model made some vectors, as a collection records and checks it.

:class:`ModelIdentity` is a name for people and a fingerprint to compare. The fingerprint of a
folder covers every route (and its IDF table): :func:`spec_fingerprint`. The encoder and the Ray
driver, which records the model before any worker loads it, both take it from here, so a
collection indexed on Ray accepts the encoder of the same folder.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from .fingerprint import earlier_fingerprint
from .loading import resolve_model_dir
from .reader import read_spec
from .spec import ModelSpec


@dataclass(frozen=True)
class ModelIdentity:
    """Which model made some vectors: a name for people, a fingerprint to compare."""

    name: str
    fingerprint: str

    def describe(self) -> str:
        return f"{self.name!r} (fingerprint {self.fingerprint})"

    def accepts(self, fingerprint: str) -> bool:
        """Whether a record carrying ``fingerprint`` names these weights: this identity's own
        fingerprint, or the sampled one earlier versions gave the same weights
        (:func:`~spladekit.checkpoint.fingerprint.earlier_fingerprint`, read from the files
        only when a record differs)."""
        return fingerprint == self.fingerprint or fingerprint == earlier_fingerprint(
            self.fingerprint
        )


def spec_fingerprint(spec: ModelSpec) -> str:
    """One identity for every route of a model (and its IDF table).

    A one-model folder keeps the fingerprint of its weights, so collections built before
    routes existed still match.
    """
    document = spec.document.fingerprint()
    if spec.symmetric:
        return document
    both = f"document:{document}|query:{spec.query.fingerprint()}"
    return hashlib.sha256(both.encode()).hexdigest()[:16]


def model_identity(model: str | os.PathLike[str]) -> ModelIdentity:
    """The identity of a model name or folder, as :class:`~spladekit.SpladeEncoder` reports it."""
    return ModelIdentity(os.fspath(model), spec_fingerprint(read_spec(resolve_model_dir(model))))


__all__ = [
    "ModelIdentity",
    "model_identity",
    "spec_fingerprint",
]
