"""pymilvus-model's ``BaseEmbeddingFunction`` as a base class, without importing pymilvus-model.

Code written for ``pymilvus.model`` checks ``isinstance(ef, BaseEmbeddingFunction)``. That class
is a plain class (no ABC registry), so only a true subclass passes, yet importing spladekit
must not import pymilvus-model (it loads its whole zoo of models). So a class that wants the
base derives from :class:`ReferenceBase`, an empty placeholder, and calls
:func:`adopt_reference_base`: the moment ``pymilvus.model.base`` is imported (now, if it already
is; later through a one-name import hook otherwise), the placeholder base is swapped for the
real one. Without pymilvus-model installed nothing is ever imported and the hook stays idle.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

REFERENCE_MODULE = "pymilvus.model.base"
REFERENCE_CLASS = "BaseEmbeddingFunction"

_ADOPTERS: list[type] = []
_LOCK = threading.Lock()


class ReferenceBase:
    """Stands in for ``pymilvus.model.base.BaseEmbeddingFunction`` until that is imported."""


def adopt_reference_base(cls: type) -> None:
    """Make ``cls`` (a subclass of :class:`ReferenceBase`) a subclass of pymilvus-model's
    ``BaseEmbeddingFunction`` as soon as that class exists in this process."""
    with _LOCK:
        _ADOPTERS.append(cls)
        module = sys.modules.get(REFERENCE_MODULE)
        if module is None:
            if not any(isinstance(f, _ReferenceFinder) for f in sys.meta_path):
                sys.meta_path.insert(0, _ReferenceFinder())
            return
    _adopt(module)


def _adopt(module: ModuleType) -> None:
    base = getattr(module, REFERENCE_CLASS, None)
    if not isinstance(base, type):
        return
    with _LOCK:
        for cls in _ADOPTERS:
            if base not in cls.__mro__:
                cls.__bases__ = tuple(base if b is ReferenceBase else b for b in cls.__bases__)


class _AdoptingLoader(importlib.abc.Loader):
    """The real loader of ``pymilvus.model.base``, then the swap."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._inner.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        _adopt(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename... stay the real ones
        return getattr(self._inner, name)


class _ReferenceFinder(importlib.abc.MetaPathFinder):
    """Answers for ``pymilvus.model.base`` only, with the spec the other finders give."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != REFERENCE_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec: importlib.machinery.ModuleSpec | None = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _AdoptingLoader(spec.loader)
                return spec
        return None


__all__ = ["REFERENCE_CLASS", "REFERENCE_MODULE", "ReferenceBase", "adopt_reference_base"]
