"""The fused head trains the same model: values and gradients equal sentence-transformers' own
SPLADE pooling on the real splade-tiny, and the model's modules are untouched afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spladekit.finetune.fused import fused_heads, max_head

TEXTS = [
    "Vitamin D deficiency is associated with a higher risk of fractures in older adults.",
    "insulin",
    "Macrophages secrete cytokines that recruit neutrophils to the site of infection, and the "
    "response resolves once the pathogen is cleared.",
]


def _forward_and_grads(model, fused: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # type: ignore[no-untyped-def]
    model.zero_grad()
    torch.manual_seed(0)  # the same dropout masks on both paths
    features = model.preprocess(TEXTS)
    if fused:
        with fused_heads(model) as routes:
            assert routes == 1
            embeddings = model(dict(features))["sentence_embedding"]
    else:
        embeddings = model(dict(features))["sentence_embedding"]
    weights = torch.linspace(0.5, 1.5, embeddings.shape[1])
    ((embeddings * weights).sum() + (embeddings.sum(0) ** 2).sum()).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return embeddings.detach(), grads


def test_fused_head_gives_sentence_transformers_values_and_gradients(tiny_model_dir: Path):
    from sentence_transformers import SparseEncoder

    model = SparseEncoder(str(tiny_model_dir), device="cpu")
    model.train()
    reference, reference_grads = _forward_and_grads(model, fused=False)
    fused, fused_grads = _forward_and_grads(model, fused=True)
    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-5)
    assert reference_grads.keys() == fused_grads.keys() and len(reference_grads) > 10
    for name, grad in reference_grads.items():
        torch.testing.assert_close(fused_grads[name], grad, rtol=1e-4, atol=1e-4, msg=name)
    # The swap is undone: the output layer computes logits again.
    output = model[0].auto_model.get_output_embeddings()
    assert "forward" not in vars(output)
    assert model[0].auto_model(**model.preprocess(["x"]))["logits"].shape[-1] == 30522


@pytest.mark.parametrize("length", [1, 31, 32, 33, 70])
def test_max_head_masks_padding_and_matches_the_dense_max(length: int):
    generator = torch.Generator().manual_seed(length)
    hidden = torch.randn(3, length, 8, generator=generator, requires_grad=True)
    weight = torch.randn(50, 8, generator=generator, requires_grad=True)
    bias = torch.randn(50, generator=generator, requires_grad=True)
    mask = torch.ones(3, length, dtype=torch.bool)
    mask[1, length // 2 + 1:] = False  # a padded text
    ours = max_head(hidden, weight, bias, mask)
    logits = (hidden @ weight.T + bias).masked_fill(~mask[..., None], float("-inf"))
    dense = logits.max(dim=1).values
    torch.testing.assert_close(ours, dense)
    upstream = torch.relu(torch.randn(3, 50, generator=generator))
    ours_grads = torch.autograd.grad((torch.log1p(torch.relu(ours)) * upstream).sum(),
                                     (hidden, weight, bias))
    dense_grads = torch.autograd.grad((torch.log1p(torch.relu(dense)) * upstream).sum(),
                                      (hidden, weight, bias))
    for a, b in zip(ours_grads, dense_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_cpu_training_is_fp32_and_cuda_autocasts_to_what_the_gpu_has(monkeypatch):  # type: ignore[no-untyped-def]
    from spladekit.finetune.training import precision_for

    assert precision_for("cpu") == "fp32"
    # No GPU here: the CUDA capability is the one part that must be stood in for.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert precision_for("cuda") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert precision_for("cuda:1") == "fp16"
