"""The dynamic batcher, in-process on the real model: what it merges, splits and refuses.

The HTTP tests show the same through a real server; here each rule is pinned on its own:
merged requests get exactly the rows they would get alone, settings never mix in one encode
call, a token budget splits large requests, a full batcher refuses at once, a lone request does
not wait, one arriving does, and stopping finishes what was submitted.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from spladekit import SpladeEncoder
from spladekit.serve.batcher import Batcher, BatchResult, Overloaded, Stopped

Key = tuple[int, str]  # (max_length, truncation): settings that change the vectors

TEXTS = [
    "Vitamin D deficiency is associated with fractures in older adults.",
    "who invented the telephone",
    "x",
    "",
    "Graphene conducts electricity better than copper at room temperature.",
    "Insulin resistance precedes type 2 diabetes by years in most patients " * 3,
]


class Recorder:
    """The batcher's encode function: the real encoder, with a log of every call."""

    def __init__(self, encoder: SpladeEncoder, fail_on: str | None = None) -> None:
        self.encoder = encoder
        self.calls: list[tuple[Key, list[str]]] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, texts: list[str], key: Key) -> Any:
        with self.lock:
            self.calls.append((key, list(texts)))
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("the backend broke")
        return self.encoder.encode(texts, max_length=key[0], truncation=key[1])  # type: ignore[arg-type]


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coro())  # type: ignore[arg-type]


async def submit(batcher: Batcher[Key], texts: list[str], key: Key) -> BatchResult:
    with batcher.slot(len(texts)) as ticket:
        tokens = [16] * len(texts)
        return await batcher.submit(ticket, texts, tokens, key)


def same(a: Any, b: Any) -> bool:
    return a.shape == b.shape and float(np.abs(a.toarray() - b.toarray()).max(initial=0)) <= 1e-5


# One worker thread for every batcher of this module, as the service has one model thread.
WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-batcher")


@pytest.fixture(scope="module", autouse=True)
def _worker() -> Iterator[None]:
    yield
    WORKER.shutdown(wait=True)


def make(recorder: Recorder, **kwargs: Any) -> Batcher[Key]:
    options: dict[str, Any] = {"max_batch_tokens": 16384, "max_texts": 512, "window": 0.0}
    options.update(kwargs)
    return Batcher(recorder, recorder.encoder.dim, WORKER, **options)


def test_merged_requests_get_the_rows_they_would_get_alone(tiny_encoder: SpladeEncoder) -> None:
    recorder = Recorder(tiny_encoder)
    keys: list[Key] = [(512, "right"), (8, "left"), (8, "right")]
    jobs = [([f"{TEXTS[i % 6]} {i}", f"{TEXTS[(i + 1) % 6]} #{i}"], keys[i % 3])
            for i in range(18)]

    async def main() -> list[BatchResult]:
        batcher = make(recorder)
        await batcher.start()
        results = await asyncio.gather(*(submit(batcher, t, k) for t, k in jobs))
        await batcher.stop()
        return list(results)

    results = run(main)
    for (texts, key), result in zip(jobs, results, strict=True):
        alone = tiny_encoder.encode(texts, max_length=key[0], truncation=key[1])  # type: ignore[arg-type]
        assert same(result.vectors, alone)
    # Merged: fewer calls than requests; and never two settings in one call.
    assert len(recorder.calls) < len(jobs)
    key_of = {text: key for texts, key in jobs for text in texts}
    for key, texts in recorder.calls:
        assert {key_of[t] for t in texts} == {key}


def test_a_token_budget_splits_a_request_across_batches_in_order(
    tiny_encoder: SpladeEncoder,
) -> None:
    recorder = Recorder(tiny_encoder)
    texts = [f"text number {i} about proteins" for i in range(7)]

    async def main() -> BatchResult:
        batcher = make(recorder, max_batch_tokens=40)
        await batcher.start()
        with batcher.slot(len(texts)) as ticket:
            result = await batcher.submit(ticket, texts, [16] * len(texts), (512, "right"))
        await batcher.stop()
        return result

    result = run(main)
    assert same(result.vectors, tiny_encoder.encode(texts))
    assert [len(t) for _, t in recorder.calls] == [2, 2, 2, 1]  # 2 x 16 tokens fit in 40
    assert [t for _, call in recorder.calls for t in call] == texts


def test_a_full_batcher_refuses_at_once_and_admits_again_when_freed(
    tiny_encoder: SpladeEncoder,
) -> None:
    async def main() -> None:
        batcher = make(Recorder(tiny_encoder), max_texts=3)
        await batcher.start()
        with batcher.slot(2):
            assert batcher.load == 2
            started = time.perf_counter()
            with pytest.raises(Overloaded, match="2 texts are queued or being encoded"), \
                    batcher.slot(2):
                pass
            assert time.perf_counter() - started < 0.05
            with batcher.slot(1):
                assert batcher.load == 3
        assert batcher.load == 0
        result = await submit(batcher, ["a", "b", "c"], (512, "right"))
        assert result.vectors.shape[0] == 3
        await batcher.stop()

    run(main)


def test_a_lone_request_does_not_wait_but_an_arriving_one_is_waited_for(
    tiny_encoder: SpladeEncoder,
) -> None:
    recorder = Recorder(tiny_encoder)
    key: Key = (512, "right")

    async def main() -> tuple[float, int]:
        batcher = make(recorder, window=0.5)
        await batcher.start()
        started = time.perf_counter()
        await submit(batcher, ["alone"], key)
        lone = time.perf_counter() - started
        calls = len(recorder.calls)
        # A second request is admitted (being tokenised) when the first is submitted: the
        # batch waits for it, and both go in one call.
        with batcher.slot(1) as late:

            async def second() -> BatchResult:
                await asyncio.sleep(0.1)
                return await batcher.submit(late, ["late"], [16], key)

            first = asyncio.ensure_future(submit(batcher, ["first"], key))
            await asyncio.gather(first, second())
        await batcher.stop()
        return lone, len(recorder.calls) - calls

    lone, calls = run(main)
    assert lone < 0.4, f"a lone request waited {lone:.3f} s for a gathering window"
    assert calls == 1 and recorder.calls[-1][1] == ["first", "late"]


def test_an_encode_failure_is_answered_to_its_own_requests_only(
    tiny_encoder: SpladeEncoder,
) -> None:
    recorder = Recorder(tiny_encoder, fail_on="boom")

    async def main() -> list[Any]:
        batcher = make(recorder)
        await batcher.start()
        results = await asyncio.gather(
            submit(batcher, ["fine"], (512, "right")),
            submit(batcher, ["boom"], (8, "right")),
            return_exceptions=True,
        )
        after = await submit(batcher, ["still fine"], (8, "right"))
        await batcher.stop()
        return [*results, after]

    fine, broken, after = run(main)
    assert isinstance(broken, RuntimeError) and "the backend broke" in str(broken)
    assert same(fine.vectors, tiny_encoder.encode(["fine"]))
    assert same(after.vectors, tiny_encoder.encode(["still fine"], max_length=8))


def test_stop_finishes_everything_submitted_then_refuses(tiny_encoder: SpladeEncoder) -> None:
    recorder = Recorder(tiny_encoder)

    async def main() -> list[BatchResult]:
        batcher = make(recorder, max_batch_tokens=32)
        await batcher.start()
        pending = [asyncio.ensure_future(submit(batcher, [f"t{i}", f"u{i}"], (512, "right")))
                   for i in range(10)]
        await asyncio.sleep(0)  # let every request reach the queue
        await batcher.stop()
        with pytest.raises(Stopped), batcher.slot(1):
            pass
        return [p.result() for p in pending]

    results = run(main)
    assert [r.vectors.shape[0] for r in results] == [2] * 10
    assert sum(len(t) for _, t in recorder.calls) == 20
