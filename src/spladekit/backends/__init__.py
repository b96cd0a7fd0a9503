"""Backends turn padded token batches into pooled SPLADE weights, one (batch, vocab) row per text.

A backend is chosen by exact name from a registry: ``torch`` and ``onnx`` are built in, and
:func:`register_backend` adds one (a name and a factory), after which ``backend=NAME`` works
everywhere an encoder option does. What a backend can do is declared on :class:`Backend`, so
the routes ask it rather than probing. Every backend is safe to call from several threads at
once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ..checkpoint.fingerprint import stale_export
from ..checkpoint.spec import DEFAULT_POOLING, PoolingSpec
from ..errors import BrokenCheckpointError, InvalidArgumentError, UnsupportedModelError
from ..options import add_backend_name, backend_names, remove_backend_name
from ..vectors import CsrParts


class Backend(Protocol):
    """What the encoder needs from a backend, capabilities included.

    - ``vocab_size``: the width of every row;
    - ``sparse_on_device``: :meth:`pool_sparse` prunes where the model runs (a GPU) and copies
      back only the non-zeros, so routes use it instead of :meth:`pool` (``False``: routes
      prune :meth:`pool`'s dense rows themselves and never call :meth:`pool_sparse`);
    - ``tokens_per_batch``/``texts_per_batch``: the batch shape the device wants when the
      encoder's options are left at their (CPU) defaults; ``None`` keeps the options.
    """

    vocab_size: int
    sparse_on_device: bool
    tokens_per_batch: int | None
    texts_per_batch: int | None

    def pool(
        self, input_ids: NDArray[np.int64], attention_mask: NDArray[np.int64]
    ) -> NDArray[np.float32]:
        """Weights ``max_t log1p(relu(logits[t]))`` over real tokens, (batch, vocab) float32."""
        ...

    def pool_sparse(
        self,
        input_ids: NDArray[np.int64],
        attention_mask: NDArray[np.int64],
        top_k: int | None,
        threshold: float,
    ) -> CsrParts:
        """The pruned weights as CSR parts (used only when ``sparse_on_device``)."""
        ...


@dataclass(frozen=True)
class BackendRequest:
    """What a factory builds a backend from: the masked-LM folder and the encoder's options."""

    folder: Path
    device: str
    precision: str
    model_kwargs: dict[str, Any]
    pooling: PoolingSpec


BackendFactory = Callable[[BackendRequest], Backend]


def _torch(request: BackendRequest) -> Backend:
    from ..checkpoint.loading import load_masked_lm
    from .torch_backend import TorchBackend

    model = load_masked_lm(request.folder, **request.model_kwargs)
    return TorchBackend(model, request.device, request.precision, request.pooling)


def _onnx(request: BackendRequest) -> Backend:
    from .onnx_backend import OnnxBackend

    if request.pooling.strategy != "max":
        raise UnsupportedModelError(
            f"this model pools with {request.pooling.describe()}; the onnx backend runs max "
            "pooling only: use backend='torch'"
        )
    if request.model_kwargs:
        raise InvalidArgumentError(
            f"backend='onnx' takes no model loading arguments, got "
            f"{sorted(request.model_kwargs)}; export the model with the options you need "
            "(spladekit.export_onnx)"
        )
    stale = stale_export(request.folder)
    if stale is not None:
        raise BrokenCheckpointError(stale)
    return OnnxBackend(
        request.folder, device=request.device, precision=request.precision,
        pooling=request.pooling,
    )


_LOCK = threading.Lock()
_FACTORIES: dict[str, BackendFactory] = {"torch": _torch, "onnx": _onnx}


def register_backend(name: str, factory: BackendFactory, *, replace: bool = False) -> None:
    """Make ``backend=name`` build its backends with ``factory`` (a :class:`BackendRequest`
    in, a :class:`Backend` out). A taken name is refused unless ``replace``."""
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"a backend name must be a non-empty str, got {name!r}")
    if not callable(factory):
        raise InvalidArgumentError(f"factory must be callable, got {type(factory).__name__}")
    with _LOCK:
        if name in _FACTORIES and not replace:
            raise InvalidArgumentError(
                f"backend {name!r} is already registered; pass replace=True to replace it"
            )
        _FACTORIES[name] = factory
        add_backend_name(name)


def unregister_backend(name: str) -> None:
    """Forget a registered backend (the built-in ones stay)."""
    with _LOCK:
        if name not in ("torch", "onnx"):
            _FACTORIES.pop(name, None)
            remove_backend_name(name)


def make_backend(
    name: str,
    folder: Path,
    *,
    device: str,
    precision: str,
    model_kwargs: dict[str, Any],
    pooling: PoolingSpec = DEFAULT_POOLING,
) -> Backend:
    """Build the backend called ``name`` for the masked-LM in ``folder``, pooled as ``pooling``."""
    with _LOCK:
        factory = _FACTORIES.get(name)
    if factory is None:
        raise InvalidArgumentError(
            f"backend must be one of {', '.join(backend_names())}; got {name!r}"
        )
    return factory(BackendRequest(folder, device, precision, dict(model_kwargs), pooling))


__all__ = [
    "Backend",
    "BackendFactory",
    "BackendRequest",
    "make_backend",
    "register_backend",
    "unregister_backend",
]
