"""The speed paths of issue 15 give the vectors they promise.

- CPU fp32 runs oneDNN-packed linear layers and head: the same vectors as the plain kernels;
- the device path (pooling, activation and pruning where the model runs, only non-zeros copied
  back) runs on the CPU too, through the same code, and equals the exact path;
- ``int8-full`` (every linear layer in int8) is batch-invariant and close to fp32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.sparse import csr_array

from spladekit import SpladeEncoder
from spladekit.backends.lean import can_pack
from spladekit.backends.torch_backend import CUDA_TOKENS_PER_BATCH, TorchBackend
from spladekit.checkpoint.loading import load_masked_lm
from spladekit.pooling import splade_pool, split_mlm
from spladekit.routes import MlmRoute

TEXTS = [
    "What causes the seasons on Earth?",
    "Vitamin D deficiency is associated with an increased risk of fractures in older adults.",
    "x",
    "",
    "Graphene conducts electricity better than copper at room temperature " * 4,
    "who invented the telephone",
    "A randomized trial of 400 patients found no benefit of the drug over placebo (p = 0.4).",
    "Protein folding is guided by hydrophobic collapse " * 12,
]


def assert_rows_match(a: csr_array, b: csr_array, tol: float) -> None:
    assert a.shape == b.shape
    for i in range(a.shape[0]):
        ra, rb = a[[i]], b[[i]]
        assert ra.indices.tolist() == rb.indices.tolist(), f"row {i}: different non-zero sets"
        np.testing.assert_allclose(ra.data, rb.data, atol=tol, rtol=0)


@pytest.mark.skipif(not can_pack(), reason="this torch build has no oneDNN")
def test_packed_cpu_kernels_give_the_formulas_vectors(tiny_model_dir: Path) -> None:
    encoder = SpladeEncoder(tiny_model_dir, batch_size=3)
    model = load_masked_lm(tiny_model_dir).float().eval()
    # splade-tiny (hidden 128) does not pack by default; BERT-base-wide models do.
    assert isinstance(encoder.backend, TorchBackend) and not encoder.backend._head_slices
    backend = TorchBackend(load_masked_lm(tiny_model_dir), pack=True)
    assert backend._head_slices  # the packed path runs
    route = encoder.routes["document"]
    assert isinstance(route, MlmRoute)
    route.backend = backend
    tokenizer = encoder.tokenizer
    batch = tokenizer(TEXTS, padding=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        want = splade_pool(split_mlm(model), batch["input_ids"], batch["attention_mask"])
    got = encoder.encode_documents(TEXTS).toarray()
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5, rtol=0)


@pytest.mark.parametrize(("top_k", "threshold"), [(None, 0.0), (5, 0.0), (None, 0.3), (3, 0.2)])
def test_the_device_path_on_cpu_equals_the_exact_path(
    tiny_model_dir: Path, top_k: int | None, threshold: float
) -> None:
    exact = SpladeEncoder(tiny_model_dir, batch_size=3, threshold=threshold)
    device = SpladeEncoder(tiny_model_dir, batch_size=3, threshold=threshold)
    backend = device.backend
    assert isinstance(backend, TorchBackend) and not backend.sparse_on_device  # CPU default
    backend.sparse_on_device = True  # what a CUDA backend sets: the route prunes there
    want = exact.encode(TEXTS, top_k=top_k)
    got = device.encode(TEXTS, top_k=top_k)
    assert_rows_match(got, want, tol=1e-5)
    if top_k is not None:
        assert max(np.diff(got.indptr)) <= top_k


def test_the_device_batch_shape_replaces_only_the_cpu_defaults(tiny_model_dir: Path) -> None:
    default = SpladeEncoder(tiny_model_dir)
    chosen = SpladeEncoder(tiny_model_dir, max_tokens_per_batch=1024, batch_size=8)
    for encoder in (default, chosen):
        backend = encoder.backend
        assert isinstance(backend, TorchBackend)
        backend.tokens_per_batch, backend.texts_per_batch = CUDA_TOKENS_PER_BATCH, 512
    routes = [encoder.routes["document"] for encoder in (default, chosen)]
    assert all(isinstance(route, MlmRoute) for route in routes)
    assert routes[0]._batch_shape() == (512, CUDA_TOKENS_PER_BATCH)  # type: ignore[union-attr]
    assert routes[1]._batch_shape() == (8, 1024)  # type: ignore[union-attr]
    # Vectors do not depend on the batch shape.
    assert_rows_match(default.encode(TEXTS), chosen.encode(TEXTS), tol=1e-5)


# -- int8-full -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from spladekit.onnx import export as onnx_export

    out = tmp_path_factory.mktemp("onnx-full") / "splade-tiny-int8-full"
    return onnx_export.export_onnx(tiny_model_dir, out, quantize="int8-full")


def test_int8_full_quantizes_every_weight_product(full_dir: Path) -> None:
    import onnx

    model = onnx.load(str(full_dir / "model_int8_full.onnx"))
    weights = {init.name for init in model.graph.initializer if len(init.dims) == 2}
    float_weight_products = [
        n.name for n in model.graph.node
        if n.op_type == "MatMul" and any(i in weights for i in n.input)
    ]
    assert float_weight_products == []
    integer = [n for n in model.graph.node if n.op_type == "MatMulInteger"]
    # splade-tiny: 2 layers x (q, k, v, out, inner, outer), and the head transform's dense
    assert len(integer) == 2 * 6 + 1


def test_int8_full_gives_a_text_the_same_vector_alone_and_in_any_batch(full_dir: Path) -> None:
    encoder = SpladeEncoder(full_dir, precision="int8-full", batch_size=3)
    together = encoder.encode(TEXTS)
    for i, text in enumerate(TEXTS):
        assert_rows_match(together[[i]], encoder.encode([text]), tol=1e-5)


def test_int8_full_vectors_stay_close_to_fp32(full_dir: Path) -> None:
    # Measured on splade-tiny (AVX-512 VNNI machine): cosine >= 0.997 on these texts; the
    # bounds leave room for other CPUs. SciFact quality: docs/SPEED.md.
    exact = SpladeEncoder(full_dir, precision="fp32").encode(TEXTS).toarray()
    approx = SpladeEncoder(full_dir, precision="int8-full").encode(TEXTS).toarray()
    cosine = (exact * approx).sum(1) / (
        np.linalg.norm(exact, axis=1) * np.linalg.norm(approx, axis=1)
    )
    assert cosine.min() > 0.99, cosine
    overlap = [
        len(set(np.argsort(-e)[:10]) & set(np.argsort(-a)[:10])) / 10
        for e, a in zip(exact, approx, strict=True)
    ]
    assert np.mean(overlap) >= 0.8, overlap
