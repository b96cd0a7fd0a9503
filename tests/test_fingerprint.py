"""The model fingerprint covers every byte of the weights, and is cached by file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from spladekit.checkpoint import fingerprint
from spladekit.checkpoint.fingerprint import model_fingerprint


@pytest.fixture
def model_copy(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    return folder


def test_a_tensor_changed_between_samples_changes_the_fingerprint(model_copy: Path) -> None:
    weights = next(iter(sorted(model_copy.glob("*.safetensors"))))
    before = model_fingerprint(model_copy)
    size = weights.stat().st_size
    # The old fingerprint read 64 KiB at each sixteenth of the file: change a byte between.
    offset = size // 16 + 64 * 1024 + 4096
    stat = weights.stat()
    with open(weights, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert weights.stat().st_size == size
    assert model_fingerprint(model_copy) != before


def test_file_digests_are_cached_by_path_size_and_mtime(model_copy: Path) -> None:
    weights = next(iter(sorted(model_copy.glob("*.safetensors"))))
    first = model_fingerprint(model_copy)
    assert fingerprint.cache_path().is_file()
    cached = fingerprint.cache_path().read_text(encoding="utf-8")
    assert str(weights.resolve()) in cached
    # A cached digest is what a later start-up uses: the same fingerprint from the cache.
    fingerprint._MEMORY.clear()
    assert model_fingerprint(model_copy) == first


def test_a_collection_recorded_with_the_earlier_sampled_fingerprint_still_matches(
    model_copy: Path, tmp_path: Path
) -> None:
    from spladekit import MilvusStore
    from spladekit.checkpoint.identity import ModelIdentity
    from spladekit.errors import ModelMismatchError

    current = ModelIdentity("splade-tiny", model_fingerprint(model_copy))
    earlier = fingerprint.earlier_fingerprint(current.fingerprint)
    assert earlier is not None and earlier != current.fingerprint
    uri = str(tmp_path / "old.db")
    MilvusStore(uri, collection="c", model=ModelIdentity("splade-tiny", earlier)).close()
    with MilvusStore(uri, collection="c", model=current) as store:
        assert store.recorded_model() == current
    with pytest.raises(ModelMismatchError):
        MilvusStore(uri, collection="c", model=ModelIdentity("splade-tiny", "0" * 16))
