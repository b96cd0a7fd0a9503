"""The ONNX export and backend: same vectors as torch, a self-contained folder, clear refusals."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_array

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from spladekit import InvalidArgumentError, ModelNotAvailableError, SpladeEncoder
from spladekit.backends.onnx_backend import OnnxBackend
from spladekit.checkpoint.onnx_folder import is_onnx_folder
from spladekit.onnx import export as onnx_export

# A dozen texts of very different lengths, so that batches are length-sorted and padded.
TEXTS = [
    "What causes the seasons on Earth?",
    "Vitamin D deficiency is associated with an increased risk of fractures in older adults.",
    "x",
    "",
    "Graphene conducts electricity better than copper at room temperature " * 4,
    "The mitochondrion produces ATP through oxidative phosphorylation.",
    "who invented the telephone",
    "Insulin resistance precedes type 2 diabetes by several years in most patients.",
    "Paris, London, Berlin and Madrid are European capitals.",
    "A randomized trial of 400 patients found no benefit of the drug over placebo (p = 0.4).",
    "   ",
    "Protein folding is guided by hydrophobic collapse " * 12,
]


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """splade-tiny exported once (fp32 and int8) for the whole session."""
    out = tmp_path_factory.mktemp("onnx") / "splade-tiny-onnx"
    return onnx_export.export_onnx(tiny_model_dir, out, quantize="int8")


@pytest.fixture(scope="module")
def onnx_fp32(onnx_dir: Path) -> SpladeEncoder:
    return SpladeEncoder(onnx_dir, backend="onnx", batch_size=4)


@pytest.fixture(scope="module")
def onnx_int8(onnx_dir: Path) -> SpladeEncoder:
    return SpladeEncoder(onnx_dir, backend="onnx", precision="int8", batch_size=4)


def assert_rows_match(a: csr_array, b: csr_array, tol: float) -> None:
    assert a.shape == b.shape
    for i in range(a.shape[0]):
        ra, rb = a[[i]], b[[i]]
        assert ra.indices.tolist() == rb.indices.tolist(), f"row {i}: different non-zero sets"
        np.testing.assert_allclose(ra.data, rb.data, atol=tol, rtol=0)


def test_onnx_fp32_gives_the_torch_vectors(
    onnx_fp32: SpladeEncoder, tiny_encoder: SpladeEncoder
) -> None:
    got = onnx_fp32.encode(TEXTS)
    assert isinstance(got, csr_array) and got.dtype == np.float32
    assert got.shape == (len(TEXTS), 30522)
    assert_rows_match(got, tiny_encoder.encode(TEXTS), tol=1e-4)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_text_gets_the_same_onnx_vector_alone_and_in_any_batch(
    precision: str, onnx_fp32: SpladeEncoder, onnx_int8: SpladeEncoder
) -> None:
    encoder = onnx_fp32 if precision == "fp32" else onnx_int8
    together = encoder.encode(TEXTS)
    for i, text in enumerate(TEXTS):
        assert_rows_match(together[[i]], encoder.encode([text]), tol=1e-5)


def test_int8_vectors_stay_close_to_fp32(
    onnx_fp32: SpladeEncoder, onnx_int8: SpladeEncoder
) -> None:
    # Measured on splade-tiny (AVX2): cosine >= 0.9993 and top-10 overlap 0.975 on these texts,
    # mean cosine 0.9996 on 300 SciFact documents; the bounds leave room for other CPUs.
    exact = onnx_fp32.encode(TEXTS).toarray()
    approx = onnx_int8.encode(TEXTS).toarray()
    norms = np.linalg.norm(exact, axis=1) * np.linalg.norm(approx, axis=1)
    cosine = (exact * approx).sum(1) / norms
    assert cosine.min() > 0.995, cosine
    overlap = [
        len(set(np.argsort(-e)[:10]) & set(np.argsort(-a)[:10])) / 10
        for e, a in zip(exact, approx, strict=True)
    ]
    assert np.mean(overlap) >= 0.9, overlap


def test_the_exported_folder_is_self_contained(onnx_dir: Path, tiny_model_dir: Path) -> None:
    names = {p.name for p in onnx_dir.iterdir()}
    assert {"model.onnx", "model_int8.onnx", "config.json", "tokenizer.json"} <= names
    assert not any(n.endswith((".safetensors", ".bin")) for n in names)
    meta = json.loads((onnx_dir / "spladekit_onnx.json").read_text())
    assert meta["precisions"] == ["fp32", "int8"]
    assert meta["opset"] == onnx_export.DEFAULT_OPSET
    assert meta["source_model"] == str(tiny_model_dir)
    assert all((onnx_dir / name).is_file() for name in meta["files"].values())
    assert is_onnx_folder(onnx_dir) and not is_onnx_folder(tiny_model_dir)


def test_the_graph_takes_dynamic_int64_inputs_and_returns_pooled_vectors(onnx_dir: Path) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    inputs = {i.name: i for i in session.get_inputs()}
    assert set(inputs) == {"input_ids", "attention_mask"}
    assert all(i.type == "tensor(int64)" and isinstance(i.shape[0], str) for i in inputs.values())
    ids = np.array([[101, 7592, 2088, 102], [101, 102, 0, 0]], dtype=np.int64)
    (out,) = session.run(None, {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int64)})
    assert out.shape == (2, 30522) and out.dtype == np.float32 and (out >= 0).all()


def test_an_exported_folder_loads_by_path_like_a_model_name(onnx_dir: Path) -> None:
    encoder = SpladeEncoder(str(onnx_dir), backend="onnx")
    vectors = encoder.encode_queries(["vitamin d and bone fractures"])
    assert vectors.shape == (1, encoder.dim)
    tokens = [token for token, _ in encoder.decode(vectors, top_k=5)[0]]
    assert "vitamin" in tokens


@pytest.mark.parametrize(
    ("device", "precision", "fragment"),
    [
        ("cpu", "bf16", "supports precision 'fp32' .* and 'int8'"),
        ("cpu", "fp16", "for bf16 or fp16 use backend='torch'"),
        ("cuda", "int8", "runs on cpu only"),
        ("tpu", "fp32", "device must be"),
    ],
)
def test_unsupported_onnx_combinations_are_refused(
    onnx_dir: Path, device: str, precision: str, fragment: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment):
        OnnxBackend(onnx_dir, device=device, precision=precision)


def test_cuda_without_the_gpu_runtime_says_what_to_install(onnx_dir: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(InvalidArgumentError, match="onnxruntime-gpu"):
        OnnxBackend(onnx_dir, device="cuda")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"quantize": "int4"}, "quantize must be None or one of 'int8'"), ({"opset": 11}, "opset")],
)
def test_unsupported_export_options_are_refused(
    tmp_path: Path, tiny_model_dir: Path, kwargs: dict[str, object], fragment: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment):
        onnx_export.export_onnx(tiny_model_dir, tmp_path, **kwargs)  # type: ignore[arg-type]


def test_an_export_without_int8_tells_how_to_make_one(onnx_dir: Path, tmp_path: Path) -> None:
    partial = tmp_path / "fp32-only"
    shutil.copytree(onnx_dir, partial, ignore=shutil.ignore_patterns("model_int8.onnx"))
    with pytest.raises(ModelNotAvailableError, match=r"export_onnx\(.*quantize='int8'\)"):
        SpladeEncoder(partial, backend="onnx", precision="int8")


def test_a_plain_model_folder_is_exported_once_into_the_cache_when_asked(
    onnx_dir: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_export, "_cache_root", lambda: tmp_path / "cache")
    calls: list[Path] = []

    def fake_export(source: Path, out: Path, **kwargs: object) -> Path:
        # Stands in for the real export (done once per session by the fixture).
        calls.append(Path(source))
        assert kwargs == {"quantize": "int8-full"}  # the cache holds every precision
        shutil.copytree(onnx_dir, out, dirs_exist_ok=True)
        return Path(out)

    monkeypatch.setattr(onnx_export, "export_onnx", fake_export)
    folder = onnx_export.cached_export(tiny_model_dir)
    first = SpladeEncoder(folder, backend="onnx")
    again = SpladeEncoder(onnx_export.cached_export(tiny_model_dir), precision="int8")
    assert calls == [tiny_model_dir]
    cached = [p for p in (tmp_path / "cache").iterdir()]
    assert len(cached) == 1 and not cached[0].name.startswith(".")
    assert isinstance(first.backend, OnnxBackend) and isinstance(again.backend, OnnxBackend)
    assert first.backend.path.parent == cached[0] == again.backend.path.parent


def test_the_onnx_backend_never_exports_behind_the_users_back(tiny_model_dir: Path) -> None:
    with pytest.raises(
        ModelNotAvailableError, match=r"holds no ONNX export .*cached_export\(model\)"
    ):
        SpladeEncoder(tiny_model_dir, backend="onnx")


def test_missing_onnxruntime_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, onnx_dir: Path
) -> None:
    import builtins

    from spladekit import MissingDependencyError

    real_import = builtins.__import__

    def no_onnxruntime(name: str, *args: object, **kwargs: object) -> object:
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'", name=name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    with pytest.raises(MissingDependencyError, match=r'pip install "spladekit\[onnx\]"'):
        OnnxBackend(onnx_dir)


def test_an_exported_folder_picks_the_onnx_backend_by_itself(onnx_dir: Path) -> None:
    from spladekit import SpladeEmbeddingFunction

    assert SpladeEncoder(onnx_dir).backend_name == "onnx"
    ef = SpladeEmbeddingFunction(model_name=str(onnx_dir))
    assert ef.encoder.backend_name == "onnx"
    assert ef.encode_queries(["graphene"]).shape == (1, 30522)


def test_onnx_backend_refuses_model_loading_arguments(onnx_dir: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="takes no model loading arguments"):
        SpladeEncoder(onnx_dir, backend="onnx", attn_implementation="eager")


def test_cli_encodes_with_an_exported_folder(onnx_dir: Path) -> None:
    from click.testing import CliRunner

    from spladekit.cli import main

    result = CliRunner().invoke(
        main, ["encode", "--model", str(onnx_dir), "--precision", "int8", "-q", "graphene heat"]
    )
    assert result.exit_code == 0, result.output
    assert '"indices"' in result.stdout


def test_cli_export_onnx_calls_the_exporter_and_lists_the_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from spladekit.cli import main

    calls: list[tuple[str, str, object, object]] = []

    def fake_export(model: str, out: str, *, quantize: object, opset: object) -> Path:
        # The real export runs once per session in the onnx_dir fixture; this checks wiring.
        calls.append((model, out, quantize, opset))
        folder = Path(out)
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(b"")
        return folder

    monkeypatch.setattr(onnx_export, "export_onnx", fake_export)
    out = tmp_path / "exported"
    result = CliRunner().invoke(main, ["export-onnx", "some/model", str(out), "--quantize", "int8"])
    assert result.exit_code == 0, result.output
    assert calls == [("some/model", str(out), "int8", 18)]
    assert '"files": ["model.onnx"]' in result.stdout


# -- the other backbones and the activation ------------------------------------------------------


@pytest.fixture(scope="module")
def backbone_exports(
    tmp_path_factory: pytest.TempPathFactory, backbone_dirs: Mapping[str, Path]
) -> dict[str, tuple[Path, Path]]:
    """(checkpoint, fp32 + int8 export) of each tiny backbone of tests/support/backbone_models.py
    (the session's, but a ModernBERT of its own).

    ModernBERT's local window (64 tokens) is longer than the exporter's example batch and
    shorter than the longest test text, so a graph specialised to short inputs would show.
    """
    from support.backbone_models import BACKBONES, make_modernbert

    root = tmp_path_factory.mktemp("backbone-onnx")
    found = {}
    for name in BACKBONES:
        if name == "modernbert":
            folder = make_modernbert(root / name, local_attention=64)
        else:
            folder = backbone_dirs[name]
        exported = onnx_export.export_onnx(folder, root / f"{name}-onnx", quantize="int8")
        found[name] = (folder, exported)
    return found


def backbone_texts() -> list[str]:
    from support.backbone_models import SENTENCES

    return [*SENTENCES, "x", "", " ".join(SENTENCES)]  # the last is over 100 tokens


@pytest.mark.parametrize("backbone", ["roberta", "xlm-roberta", "camembert", "modernbert"])
def test_each_backbone_exports_and_gives_the_torch_vectors(
    backbone: str, backbone_exports: dict[str, tuple[Path, Path]]
) -> None:
    folder, exported = backbone_exports[backbone]
    texts = backbone_texts()
    want = SpladeEncoder(folder, batch_size=4).encode(texts)
    fp32 = SpladeEncoder(exported, batch_size=4)
    assert fp32.backend_name == "onnx"
    meta = json.loads((exported / "spladekit_onnx.json").read_text())
    assert meta["model_type"] == json.loads((folder / "config.json").read_text())["model_type"]
    got = fp32.encode(texts)
    assert_rows_match(got, want, tol=1e-4)
    int8 = SpladeEncoder(exported, precision="int8", batch_size=4)
    approx = int8.encode(texts).toarray()
    exact = want.toarray()
    norms = np.linalg.norm(exact, axis=1) * np.linalg.norm(approx, axis=1)
    assert ((exact * approx).sum(1) / np.maximum(norms, 1e-12)).min() > 0.99
    for i, text in enumerate(texts):  # batch composition changes no vector, in either graph
        assert_rows_match(got[[i]], fp32.encode([text]), tol=1e-5)
        np.testing.assert_allclose(int8.encode([text]).toarray()[0], approx[i], atol=1e-5)


def test_the_export_records_its_pooling(onnx_dir: Path) -> None:
    meta = json.loads((onnx_dir / "spladekit_onnx.json").read_text())
    assert meta["activation"] == "relu" and meta["pooling_strategy"] == "max"
    assert "log1p(relu(x))" in meta["pooling"]


def test_a_log1p_relu_export_applies_one_more_log1p(
    backbone_exports: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    from spladekit.backends.torch_backend import TorchBackend
    from spladekit.checkpoint.loading import load_masked_lm, load_tokenizer
    from spladekit.checkpoint.spec import PoolingSpec
    from spladekit.onnx.quantize import tokenize

    folder, _ = backbone_exports["xlm-roberta"]
    spec = PoolingSpec("max", "log1p_relu")
    out = onnx_export.export_onnx(folder, tmp_path / "v3", quantize="int8", pooling=spec)
    meta = json.loads((out / "spladekit_onnx.json").read_text())
    assert meta["activation"] == "log1p_relu" and meta["pooling_strategy"] == "max"
    torch_backend = TorchBackend(load_masked_lm(folder), pooling=spec)
    plain = TorchBackend(load_masked_lm(folder))
    (ids, mask), *_ = tokenize(load_tokenizer(folder), backbone_texts())
    want = torch_backend.pool(ids, mask)
    assert not np.allclose(want, plain.pool(ids, mask), atol=1e-3)  # the activations differ
    fp32 = OnnxBackend(out, pooling=spec).pool(ids, mask)
    np.testing.assert_allclose(fp32, want, atol=1e-4, rtol=0)
    int8 = OnnxBackend(out, precision="int8", pooling=spec).pool(ids, mask)
    np.testing.assert_allclose(int8, want, atol=0.05, rtol=0)
    # A model whose folder asks for the default activation cannot run this graph.
    with pytest.raises(ModelNotAvailableError, match="computes activation 'log1p_relu'"):
        OnnxBackend(out)


def test_sum_pooling_is_refused_at_export(tmp_path: Path, tiny_model_dir: Path) -> None:
    from spladekit.checkpoint.spec import PoolingSpec
    from spladekit.errors import UnsupportedModelError

    with pytest.raises(UnsupportedModelError) as info:
        onnx_export.export_onnx(tiny_model_dir, tmp_path, pooling=PoolingSpec("sum"))
    message = str(info.value)
    assert "sum pooling is not supported by the ONNX export" in message
    assert "backend='torch'" in message
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_an_exporter_failure_is_refused_naming_the_backbone(
    backbone_exports: dict[str, tuple[Path, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from spladekit.errors import UnsupportedModelError

    def failing_export(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Could not guard on data-dependent expression u0 < 8")

    monkeypatch.setattr(torch.onnx, "export", failing_export)
    folder, _ = backbone_exports["modernbert"]
    with pytest.raises(UnsupportedModelError, match="cannot trace this modernbert model") as info:
        onnx_export.export_onnx(folder, tmp_path / "out")
    assert "data-dependent" in str(info.value) and "backend='torch'" in str(info.value)
