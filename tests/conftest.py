"""Shared fixtures: the real small SPLADE model (splade-tiny) and encoders built on it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TINY_DEFAULT = Path.home() / ".cache" / "spladekit" / "models" / "splade-tiny"
REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "data" / "scifact"


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """splade-tiny, fetched by scripts/fetch_test_model.py (part of scripts/setup.sh)."""
    folder = Path(os.environ.get("SPLADEKIT_TEST_MODEL", TINY_DEFAULT)).expanduser()
    if not (folder / "model.safetensors").is_file():
        pytest.fail(
            f"splade-tiny is missing at {folder}: run `python scripts/fetch_test_model.py` "
            "(scripts/setup.sh does)"
        )
    return folder


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from spladekit import SpladeEncoder

    return SpladeEncoder(tiny_model_dir)


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    if not (SCIFACT / "corpus.jsonl").is_file():
        pytest.skip(f"SciFact is not at {SCIFACT}")
    return SCIFACT
