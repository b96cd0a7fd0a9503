"""A damaged or inconsistent checkpoint is refused by name, naming the file, before it can give
wrong vectors: never an "unexpected" error from inside a library, never random weights."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from spladekit import BrokenCheckpointError, SpladeEncoder
from support.checkpoints import copy_model, router_idf


@pytest.fixture()
def copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    return copy_model(tiny_model_dir, tmp_path / "model")


def edit_config(folder: Path, **changes: object) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def test_a_garbage_tokenizer_file_is_refused_naming_it(copy: Path) -> None:
    (copy / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "nonsense"}}')
    with pytest.raises(BrokenCheckpointError, match=r"tokenizer\.json.*cannot be read"):
        SpladeEncoder(copy)


def test_a_tokenizer_that_does_not_cover_the_vocabulary_is_refused(copy: Path) -> None:
    # Five tokens beside a 30,522-row head: every word would be [UNK].
    (copy / "tokenizer.json").unlink()
    (copy / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")
    with pytest.raises(BrokenCheckpointError, match="has 5 tokens but the model has 30,522"):
        SpladeEncoder(copy)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("vocab_size", 50_000_000, "vocab_size is 50,000,000, past spladekit's limit"),
        ("hidden_size", 1_000_000, "hidden_size is 1,000,000, past spladekit's limit"),
        ("num_hidden_layers", -2, "num_hidden_layers is -2, not a positive integer"),
    ],
)
def test_absurd_config_shapes_are_refused_before_any_allocation(
    copy: Path, field: str, value: int, message: str
) -> None:
    edit_config(copy, **{field: value})
    with pytest.raises(BrokenCheckpointError, match=message) as info:
        SpladeEncoder(copy)
    assert "config.json" in str(info.value)


def test_weights_that_do_not_cover_the_declared_architecture_are_refused(copy: Path) -> None:
    # One more layer than the weights hold: transformers would fill it with random values.
    layers = json.loads((copy / "config.json").read_text())["num_hidden_layers"]
    edit_config(copy, num_hidden_layers=layers + 1)
    with pytest.raises(BrokenCheckpointError, match="tensors are missing") as info:
        SpladeEncoder(copy)
    assert f"encoder.layer.{layers}." in str(info.value)


def test_pickle_only_weights_that_are_not_plain_tensors_are_refused_by_name(copy: Path) -> None:
    (copy / "model.safetensors").unlink()
    # A pickle that holds more than tensors: torch's safe loader refuses it.
    torch.save({"weights": torch.zeros(2), "extra": os.path.join}, copy / "pytorch_model.bin")
    with pytest.raises(BrokenCheckpointError, match=r"pytorch_model\.bin.*unpickle"):
        SpladeEncoder(copy)


def test_a_static_route_pointing_outside_the_model_folder_is_refused(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = router_idf(tmp_path / "router", tiny_model_dir)
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps({"the": 1.0}))
    [static] = [p for p in folder.iterdir() if "SparseStaticEmbedding" in p.name]
    (static / "config.json").write_text(json.dumps({"path": str(outside)}))
    with pytest.raises(BrokenCheckpointError, match="outside the model folder"):
        SpladeEncoder(folder)
    (static / "config.json").write_text(json.dumps({"path": "../../elsewhere.json"}))
    with pytest.raises(BrokenCheckpointError, match="outside the model folder"):
        SpladeEncoder(folder)


def test_a_linked_file_leading_outside_the_model_folder_is_refused(
    copy: Path, tmp_path: Path
) -> None:
    target = tmp_path / "tokenizer-elsewhere.json"
    (copy / "tokenizer.json").rename(target)
    (copy / "tokenizer.json").symlink_to(target)
    with pytest.raises(BrokenCheckpointError, match=r"tokenizer\.json.*outside the model folder"):
        SpladeEncoder(copy)


def test_a_linked_file_inside_the_model_folder_is_read(copy: Path) -> None:
    (copy / "weights").mkdir()
    (copy / "model.safetensors").rename(copy / "weights" / "model.safetensors")
    (copy / "model.safetensors").symlink_to(copy / "weights" / "model.safetensors")
    assert SpladeEncoder(copy).encode(["a text"]).shape[0] == 1
