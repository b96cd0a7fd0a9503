"""Build a BERT-base masked-LM with random weights, the size of naver's SPLADE models.

    .venv/bin/python bench/make_random_model.py  # -> ~/.cache/spladekit/models/bert-base-random

The encode benchmark uses it to time a model of the real architecture (12 layers, hidden 768,
12 heads, intermediate 3072, vocab 30522, 512 positions) without downloading one. Weights come
from transformers' own initialisation under a fixed seed, so the folder is reproducible. The
tokenizer files are copied from splade-tiny: both use the same uncased BERT wordpiece vocabulary.

The output bias of the MLM head is set to a negative constant (``--head-bias``) so that, as with
a trained SPLADE model, about 190 vocabulary weights per SciFact document come out non-zero
(with the initial zero bias about half the vocabulary would). Output size matters to the timing
and memory of both implementations, so it should look like a real model's.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path

MODELS = Path.home() / ".cache" / "spladekit" / "models"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def build(out: Path, tokenizer_from: Path, seed: int, head_bias: float) -> str:
    """Write config, safetensors weights and tokenizer files to ``out``; return weights' sha256."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    missing = [n for n in TOKENIZER_FILES if not (tokenizer_from / n).is_file()]
    if missing:
        raise SystemExit(
            f"{tokenizer_from} lacks {', '.join(missing)}: run scripts/fetch_test_model.py first"
        )
    config = BertConfig(
        vocab_size=30522,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
        type_vocab_size=2,
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    model = BertForMaskedLM(config)
    with torch.no_grad():
        model.cls.predictions.bias.fill_(head_bias)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    for name in TOKENIZER_FILES:
        shutil.copyfile(tokenizer_from / name, out / name)
    return hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=MODELS / "bert-base-random")
    parser.add_argument("--tokenizer-from", type=Path, default=MODELS / "splade-tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--head-bias", type=float, default=-2.2)
    args = parser.parse_args()
    out = args.out.expanduser()
    digest = build(out, args.tokenizer_from.expanduser(), args.seed, args.head_bias)
    print(f"wrote {out} (model.safetensors sha256 {digest})")


if __name__ == "__main__":
    main()
