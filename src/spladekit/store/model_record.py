"""The rule by which a store takes a model's vectors, the same in every store.

A collection records the model that filled it (its name and fingerprint). Given the record (or
none) and the model about to write or search, :func:`adoption` says what the store does:

- no record: ``"record"`` the model;
- a record this model accepts (:meth:`~spladekit.checkpoint.identity.ModelIdentity.accepts`):
  its own fingerprint, under any name: ``"keep"`` the record; the sampled fingerprint earlier
  versions gave the same weights: ``"replace"`` it with the full one;
- another model: refused with a :class:`~spladekit.errors.ModelMismatchError` naming both,
  unless ``allow_other_model`` (then ``"keep"``: the record stays, the vectors mix).

:class:`~spladekit.store.memory.MemoryStore` and :class:`~spladekit.store.milvus.MilvusStore`
both apply it, in their ``adopt_model`` (and ``check_model`` / ``record_model``).
"""

from __future__ import annotations

from typing import Literal

from ..checkpoint.identity import ModelIdentity
from ..errors import ModelMismatchError

Adoption = Literal["keep", "record", "replace"]


def adoption(
    recorded: ModelIdentity | None, model: ModelIdentity, *, allow_other_model: bool, where: str
) -> Adoption:
    """What a store whose collection records ``recorded`` does with ``model`` (see the module
    docstring); ``where`` is what the error calls the collection."""
    if recorded is None:
        return "record"
    if model.accepts(recorded.fingerprint):
        return "keep" if recorded.fingerprint == model.fingerprint else "replace"
    if not allow_other_model:
        raise ModelMismatchError(
            f"{where} was built with model {recorded.describe()}, not {model.describe()}; "
            "vectors of two models do not mix. Use the same model, another collection, or "
            "allow_other_model=True to mix anyway"
        )
    return "keep"


__all__ = ["Adoption", "adoption"]
