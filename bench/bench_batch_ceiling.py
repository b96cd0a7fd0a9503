"""Where a service's time goes: what merging short queries into one encode call can gain.

    .venv/bin/python bench/bench_batch_ceiling.py --model bert-base   # or tiny, or a folder

On the first ``--n`` SciFact queries (query profile), in this process and on the encoder alone
(no HTTP): one query per call (the in-process caller bench_serve compares with), then the same
queries tokenised once and encoded ``--batch`` at a time through
``SpladeEncoder.encode_tokenized``, as the service's batcher does. Prints queries/s of each, the
ratio (the most a service merging that many queries could reach over one in-process caller,
before any HTTP work), the model passes per merged call (the route splits a batch into passes of
similar lengths to bound padding), and the arithmetic: the model's multiply-adds per token
(from its config) times the tokens, against the CPU's own fp32 matmul rate measured here
(a large product with the kernels the torch backend uses), so the share of the machine each
mode uses is explicit.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import cpu_summary, model_folder, scifact_queries


def flops_per_token(config: object) -> float:
    """Multiply-adds x 2 of one token through the encoder's linear layers and the MLM head."""
    hidden = int(getattr(config, "hidden_size", 0) or getattr(config, "dim", 0))
    inner = int(getattr(config, "intermediate_size", 0) or getattr(config, "hidden_dim", 0))
    layers = int(getattr(config, "num_hidden_layers", 0) or getattr(config, "n_layers", 0))
    vocab = int(config.vocab_size)  # type: ignore[attr-defined]
    per_layer = 4 * hidden * hidden + 2 * hidden * inner
    head = hidden * hidden + hidden * vocab
    return 2.0 * (layers * per_layer + head)


def matmul_gflops(tokens: int, hidden: int) -> float:
    """fp32 GFLOP/s of this CPU on a (tokens, hidden) x (hidden, 4 hidden) product, with the
    kernels the torch backend uses (oneDNN's packed linear where the build has it)."""
    from spladekit.backends.lean import can_pack, pack_weight

    a = torch.randn(tokens, hidden)
    weight = torch.randn(4 * hidden, hidden)
    if can_pack():
        packed = pack_weight(weight)

        def product() -> object:
            return torch.ops.mkldnn._linear_pointwise(a, packed, None, "none", [], "")
    else:

        def product() -> object:
            return torch.nn.functional.linear(a, weight)

    for _ in range(3):
        product()
    runs = 20
    started = time.perf_counter()
    for _ in range(runs):
        product()
    seconds = (time.perf_counter() - started) / runs
    return 2.0 * tokens * hidden * 4 * hidden / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--n", type=int, default=320)
    parser.add_argument("--batch", default="8,16,32")
    args = parser.parse_args()

    from spladekit import SpladeEncoder
    from spladekit.backends.torch_backend import TorchBackend
    from spladekit.encoding import Tokenized

    passes = [0]
    pool = TorchBackend.pool

    def counted(self: TorchBackend, *a: object) -> object:
        passes[0] += 1
        return pool(self, *a)  # type: ignore[arg-type]

    TorchBackend.pool = counted  # type: ignore[assignment, method-assign]
    folder = model_folder(args.model)
    encoder = SpladeEncoder(folder)
    profile = encoder.profiles()["query"]
    queries = scifact_queries(args.n)
    print(f"model {folder}; {len(queries)} SciFact queries; torch threads "
          f"{torch.get_num_threads()}")
    print(f"CPU: {cpu_summary()}")
    for q in queries[:10]:
        encoder.encode_profile([q], profile)
    times = []
    for q in queries:
        started = time.perf_counter()
        encoder.encode_profile([q], profile)
        times.append(time.perf_counter() - started)
    single = len(queries) / sum(times)
    tokenized = [encoder.tokenize([q], profile) for q in queries]
    tokens = sum(sum(t.counts) for t in tokenized)
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(folder))
    per_token = flops_per_token(config)
    hidden = int(getattr(config, "hidden_size", 0) or getattr(config, "dim", 0))
    peak = matmul_gflops(512, hidden)
    mean_tokens = tokens / len(queries)
    print(f"mean tokens per query {mean_tokens:.1f}; model {per_token / 1e6:.0f} MFLOP per "
          f"token; this CPU's fp32 linear ({512}x{hidden} @ {hidden}x{4 * hidden}): "
          f"{peak:.0f} GFLOP/s")
    gflops = single * mean_tokens * per_token / 1e9
    print(f"{'mode':<22} {'queries/s':>10} {'x one caller':>13} {'passes/call':>12} "
          f"{'GFLOP/s':>9} {'of matmul':>10}")
    print(f"{'one query per call':<22} {single:>10.1f} {1.0:>13.2f} {1.0:>12.1f} "
          f"{gflops:>9.0f} {gflops / peak:>10.0%}")
    for size in [int(b) for b in args.batch.split(",")]:
        passes[0] = 0
        calls = 0
        started = time.perf_counter()
        for lo in range(0, len(tokenized), size):
            encoder.encode_tokenized(Tokenized.join(tokenized[lo : lo + size]))
            calls += 1
        rate = len(tokenized) / (time.perf_counter() - started)
        gflops = rate * mean_tokens * per_token / 1e9
        print(f"{f'merged, {size} per call':<22} {rate:>10.1f} {rate / single:>13.2f} "
              f"{passes[0] / calls:>12.1f} {gflops:>9.0f} {gflops / peak:>10.0%}")
    print(f"p50 of one query per call: {statistics.median(times) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
