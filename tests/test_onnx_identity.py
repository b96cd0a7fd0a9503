"""An ONNX export cannot run under another model's identity: a graph whose source weights
changed is refused, the export cache is keyed by content (not by file times, which copies keep),
and an export stopped half-way never loads as the earlier export."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spladekit import BrokenCheckpointError, SpladeEncoder
from spladekit.checkpoint.fingerprint import model_fingerprint
from support.checkpoints import copy_model

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def rewrite_keeping_size_and_times(path: Path) -> None:
    """Other bytes, same size and modification time: what a `cp -p` of other weights does."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[-64:] = bytes(64)  # the end of the last tensor
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert path.stat().st_mtime_ns == stat.st_mtime_ns


@pytest.fixture()
def model(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return copy_model(tiny_model_dir, tmp_path / "model")


def test_changed_weights_with_the_same_size_and_times_get_a_new_fingerprint(model: Path) -> None:
    before = model_fingerprint(model)
    rewrite_keeping_size_and_times(model / "model.safetensors")
    assert model_fingerprint(model) != before


def test_the_export_cache_is_keyed_by_content(model: Path) -> None:
    from spladekit import cached_export

    first = cached_export(model)
    rewrite_keeping_size_and_times(model / "model.safetensors")
    second = cached_export(model)
    assert second != first
    assert SpladeEncoder(second).model_identity.fingerprint == model_fingerprint(model)


def test_an_export_beside_weights_that_changed_since_is_refused(model: Path) -> None:
    from spladekit import export_onnx

    export_onnx(model, model)  # the graph beside the checkpoint it was made from
    assert SpladeEncoder(model, backend="onnx").encode(["a text"]).shape[0] == 1
    rewrite_keeping_size_and_times(model / "model.safetensors")
    with pytest.raises(BrokenCheckpointError, match="the graph is stale"):
        SpladeEncoder(model, backend="onnx")


def test_an_export_stopped_half_way_does_not_load_as_the_earlier_one(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spladekit import export_onnx
    from spladekit.checkpoint.onnx_folder import METADATA_FILE, is_onnx_folder
    from spladekit.onnx import export

    out = export_onnx(model, tmp_path / "exported")
    assert is_onnx_folder(out)

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # stopped after the new graph was written

    monkeypatch.setattr(export, "check_against_torch", killed)
    with pytest.raises(KeyboardInterrupt):
        export_onnx(model, out)
    assert (out / "model.onnx").is_file() and not (out / METADATA_FILE).exists()
    assert not is_onnx_folder(out)
