"""Bad model folders and precisions: each refused with a SpladeError that says what is wrong.

A model path that is a file, a checkpoint without its masked-LM head, another architecture, a
folder without weights, and a dtype or precision that is not honoured here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from spladekit import (
    InvalidArgumentError,
    ModelNotAvailableError,
    SpladeEncoder,
    UnsupportedModelError,
)


def test_a_model_path_that_is_a_file_is_named(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "model.bin"
    not_a_folder.write_bytes(b"\x00" * 10)
    with pytest.raises(ModelNotAvailableError, match="no model folder at"):
        SpladeEncoder(str(not_a_folder))


def test_a_checkpoint_without_its_masked_lm_head_is_refused(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from transformers import BertModel

    headless = tmp_path / "bert-without-head"
    BertModel.from_pretrained(str(tiny_model_dir)).save_pretrained(str(headless))
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        if (tiny_model_dir / name).exists():
            shutil.copy(tiny_model_dir / name, headless / name)
    with pytest.raises(UnsupportedModelError, match="has no masked-LM head") as info:
        SpladeEncoder(headless)
    assert "BertModel rather than BertForMaskedLM" in str(info.value)


def test_a_model_of_another_architecture_is_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "gpt"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "gpt2"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedModelError, match="is a 'gpt2' model"):
        SpladeEncoder(folder)


def test_a_folder_without_weights_is_named(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "no-weights"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        if (tiny_model_dir / name).exists():
            shutil.copy(tiny_model_dir / name, folder / name)
    with pytest.raises(ModelNotAvailableError, match="could not load weights"):
        SpladeEncoder(folder)


def test_dtype_is_honoured_or_refused(tiny_model_dir: Path) -> None:
    import torch

    from spladekit.backends.cpu import cpu_has_bf16

    assert SpladeEncoder(tiny_model_dir, dtype=torch.float32).precision == "fp32"
    with pytest.raises(InvalidArgumentError, match="fp16' runs on CUDA only"):
        SpladeEncoder(tiny_model_dir, torch_dtype=torch.float16)
    with pytest.raises(InvalidArgumentError, match=r"dtype must be torch\.float32"):
        SpladeEncoder(tiny_model_dir, dtype="int4")
    with pytest.raises(InvalidArgumentError, match="disagree"):
        SpladeEncoder(tiny_model_dir, dtype=torch.bfloat16, precision="fp16")
    if cpu_has_bf16():
        assert SpladeEncoder(tiny_model_dir, dtype="bfloat16").precision == "bf16"
    else:
        with pytest.raises(InvalidArgumentError, match="needs AVX512-BF16 or AMX"):
            SpladeEncoder(tiny_model_dir, dtype=torch.bfloat16)
