"""The ONNX Runtime backend: runs a graph exported by :mod:`spladekit.onnx.export`.

The graph already contains the SPLADE pooling, so one ``run`` call returns the finished
(batch, vocab) weights. ONNX Runtime sessions are safe to run from several threads at once.
A plain Hugging Face folder is refused with the export command: exporting is an explicit step
(``spladekit.export_onnx`` or ``spladekit.cached_export``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..checkpoint.onnx_folder import INPUT_NAMES, model_file, read_metadata
from ..checkpoint.spec import DEFAULT_POOLING, PoolingSpec
from ..errors import InvalidArgumentError, MissingDependencyError, ModelNotAvailableError
from ..options import check_device, cuda_index
from ..validation import optional_positive_int
from ..vectors import CsrParts, prune_dense

# What the onnx backend runs, and where.
ONNX_PRECISIONS = {"fp32": ("cpu", "cuda"), "int8": ("cpu",), "int8-full": ("cpu",)}
_SUPPORTED = "'fp32' (cpu, cuda) and 'int8' or 'int8-full' (cpu)"


def import_onnxruntime() -> Any:
    """The onnxruntime module, or MissingDependencyError with the install command."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependencyError(
            'backend="onnx" needs onnxruntime: pip install "spladekit[onnx]" '
            "(onnxruntime-gpu for CUDA)"
        ) from exc
    return onnxruntime


def check_onnx_options(device: str, precision: str) -> str:
    """Validate a device/precision pair for the onnx backend; returns the device kind."""
    kind = check_device(device).split(":")[0]
    devices = ONNX_PRECISIONS.get(precision)
    if devices is None:
        raise InvalidArgumentError(
            f"the onnx backend supports precision {_SUPPORTED}, got {precision!r}; for bf16 or "
            "fp16 use backend='torch'"
        )
    if kind not in devices:
        raise InvalidArgumentError(
            f"precision={precision!r} with the onnx backend runs on {' or '.join(devices)} only, "
            f"got device={device!r}; the onnx backend supports {_SUPPORTED} (on CUDA, "
            "backend='torch' offers fp16 and bf16)"
        )
    return kind


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class OnnxBackend:
    """One reused ONNX Runtime session; ``pool`` returns (batch, vocab) float32 weights."""

    # The graph returns dense rows on every device; batch shapes follow the options.
    sparse_on_device = False
    tokens_per_batch: int | None = None
    texts_per_batch: int | None = None

    def __init__(
        self,
        folder: Path,
        device: str = "cpu",
        precision: str = "fp32",
        *,
        threads: int | None = None,
        pooling: PoolingSpec = DEFAULT_POOLING,
    ) -> None:
        kind = check_onnx_options(device, precision)
        # Exports made before activations were recorded all used log1p(relu(x)).
        exported = read_metadata(Path(folder)).get("activation", "relu")
        if exported != pooling.activation:
            raise ModelNotAvailableError(
                f"the ONNX export in {str(folder)!r} computes activation {exported!r} but the "
                f"model asks for {pooling.activation!r}; export it again from the model's folder "
                "(spladekit.export_onnx reads the activation from it)"
            )
        threads = optional_positive_int("threads", threads)
        ort = import_onnxruntime()
        self.path = model_file(Path(folder), precision)
        self.precision = precision
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # One run at a time, all cores on each operator: the graph is a chain, not a tree.
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads or _default_threads()
        options.inter_op_num_threads = 1
        if kind == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise InvalidArgumentError(
                    f"device={device!r} needs onnxruntime's CUDA provider, which this install "
                    "lacks: pip install onnxruntime-gpu (instead of onnxruntime), or use "
                    'device="cpu"'
                )
            index = cuda_index(device)
            providers: list[Any] = [
                ("CUDAExecutionProvider", {"device_id": index}),
                "CPUExecutionProvider",
            ]
        else:
            providers = ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own non-exported exception types
            raise ModelNotAvailableError(
                f"could not load the ONNX model {str(self.path)!r}: {exc}"
            ) from exc
        names = [i.name for i in self.session.get_inputs()]
        if sorted(names) != sorted(INPUT_NAMES):
            raise ModelNotAvailableError(
                f"{str(self.path)!r} is not a spladekit ONNX export: its inputs are {names}, "
                "expected input_ids and attention_mask; export it with spladekit.export_onnx"
            )
        self._output = self.session.get_outputs()[0].name
        self.vocab_size = _vocab_size(self.session, self.path.parent)

    def pool(
        self, input_ids: NDArray[np.int64], attention_mask: NDArray[np.int64]
    ) -> NDArray[np.float32]:
        feeds = {
            "input_ids": np.ascontiguousarray(input_ids, dtype=np.int64),
            "attention_mask": np.ascontiguousarray(attention_mask, dtype=np.int64),
        }
        (weights,) = self.session.run([self._output], feeds)
        return np.asarray(weights, dtype=np.float32)

    def pool_sparse(
        self,
        input_ids: NDArray[np.int64],
        attention_mask: NDArray[np.int64],
        top_k: int | None,
        threshold: float,
    ) -> CsrParts:
        """:meth:`pool`'s rows pruned here (the graph returns dense rows on every device)."""
        return prune_dense(self.pool(input_ids, attention_mask), top_k=top_k, threshold=threshold)


def _vocab_size(session: Any, folder: Path) -> int:
    width = session.get_outputs()[0].shape[-1]
    if isinstance(width, int):
        return width
    with open(folder / "config.json", encoding="utf-8") as handle:
        return int(json.load(handle)["vocab_size"])


__all__ = [
    "ONNX_PRECISIONS",
    "OnnxBackend",
    "check_onnx_options",
    "import_onnxruntime",
]
