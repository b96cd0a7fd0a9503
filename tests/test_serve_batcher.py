"""The dynamic batcher, in-process on the real model: what it merges, splits and refuses.

The HTTP tests show the same through a real server; here each rule is pinned on its own:
merged requests get exactly the rows they would get alone, settings never mix in one encode
call, a token budget splits large requests, a full batcher refuses at once, a lone request does
not wait, one arriving does, queue and encode times come from the batcher's clock, and stopping
finishes what was submitted. No test reads the wall clock: they assert what was merged into which
encode call, and the order things happened in.
"""

from __future__ import annotations

import asyncio
import threading
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

    def __call__(self, pieces: list[tuple[list[str], int, int]], key: Key) -> Any:
        # The service's work is tokenised texts; here it is the texts themselves.
        texts = [text for work, lo, hi in pieces for text in work[lo:hi]]
        with self.lock:
            self.calls.append((key, list(texts)))
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("the backend broke")
        return self.encoder.encode(texts, max_length=key[0], truncation=key[1])  # type: ignore[arg-type]


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coro())  # type: ignore[arg-type]


async def submit(batcher: Batcher[list[str], Key], texts: list[str], key: Key) -> BatchResult:
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


def make(recorder: Recorder, **kwargs: Any) -> Batcher[list[str], Key]:
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
    recorder = Recorder(tiny_encoder)

    async def main() -> None:
        batcher = make(recorder, max_texts=3)
        await batcher.start()
        with batcher.slot(2):
            assert batcher.load == 2
            # slot() is not awaited: the refusal comes while the first slot is still held,
            # so it cannot have waited for room; and it admits nothing.
            with pytest.raises(Overloaded, match="2 texts are queued or being encoded"), \
                    batcher.slot(2):
                pass
            assert batcher.load == 2
            with batcher.slot(1):
                assert batcher.load == 3
        assert batcher.load == 0
        assert recorder.calls == []
        result = await submit(batcher, ["a", "b", "c"], (512, "right"))
        assert result.vectors.shape[0] == 3
        await batcher.stop()

    run(main)


# The gathering windows below are an hour long: a request answered at all did not wait one out.
# GUARD only turns such a wait into a failure instead of a hang; it is no timing assert.
HOUR = 3600.0
GUARD = 300.0


async def guarded(work: Awaitable[Any], what: str) -> Any:
    try:
        return await asyncio.wait_for(work, GUARD)
    except asyncio.TimeoutError:
        raise AssertionError(f"{what} (no answer after {GUARD:g} s)") from None


async def settle() -> None:
    """Let every task that can run on the event loop run (no wall-clock wait)."""
    for _ in range(50):
        await asyncio.sleep(0)


def test_a_lone_request_does_not_wait_for_the_gathering_window(
    tiny_encoder: SpladeEncoder,
) -> None:
    recorder = Recorder(tiny_encoder)

    async def main() -> BatchResult:
        batcher = make(recorder, window=HOUR)
        await batcher.start()
        result: BatchResult = await guarded(submit(batcher, ["alone"], (512, "right")),
                                            "a lone request waited for the gathering window")
        await batcher.stop()
        return result

    result = run(main)
    assert same(result.vectors, tiny_encoder.encode(["alone"]))
    assert recorder.calls == [((512, "right"), ["alone"])]


def test_an_arriving_request_is_waited_for_until_the_batch_is_full(
    tiny_encoder: SpladeEncoder,
) -> None:
    recorder = Recorder(tiny_encoder)
    key: Key = (512, "right")

    async def main() -> list[BatchResult]:
        # Room for two texts of 16 tokens: the batch closes when the second one arrives.
        batcher = make(recorder, window=HOUR, max_batch_tokens=32)
        await batcher.start()
        # A second request is admitted (being tokenised) when the first is submitted: the
        # dispatcher takes the first and, rather than encode it alone, waits for the second.
        with batcher.slot(1) as late:
            first = asyncio.ensure_future(submit(batcher, ["first"], key))
            await settle()  # the dispatcher has taken "first" and decided what to do with it
            assert not first.done()
            second = batcher.submit(late, ["late"], [16], key)
            results = await guarded(asyncio.gather(first, second),
                                    "a full batch waited for the end of the window")
        await batcher.stop()
        return list(results)

    first, second = run(main)
    assert recorder.calls == [(key, ["first", "late"])]
    assert same(first.vectors, tiny_encoder.encode(["first"]))
    assert same(second.vectors, tiny_encoder.encode(["late"]))


class FakeClock:
    """A clock that moves only when told to: here, by 2 s during every encode call."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Observer:
    def __init__(self) -> None:
        self.encoded_calls: list[tuple[int, int, float]] = []

    def queued(self, texts: int) -> None:
        pass

    def encoded(self, texts: int, tokens: int, seconds: float) -> None:
        self.encoded_calls.append((texts, tokens, seconds))


def test_queue_and_encode_times_are_read_from_the_batchers_clock(
    tiny_encoder: SpladeEncoder,
) -> None:
    clock = FakeClock()
    recorder = Recorder(tiny_encoder)

    def encode(pieces: list[tuple[list[str], int, int]], key: Key) -> Any:
        clock.now += 2.0
        return recorder(pieces, key)

    observer = Observer()

    async def main() -> list[BatchResult]:
        # One text per batch: "a", "b", "c" take three encode calls; "d" waits for all three.
        batcher = Batcher(encode, tiny_encoder.dim, WORKER, max_batch_tokens=16, max_texts=16,
                          window=0.0, observer=observer, clock=clock)
        await batcher.start()
        results = await asyncio.gather(submit(batcher, ["a", "b", "c"], (512, "right")),
                                       submit(batcher, ["d"], (512, "right")))
        await batcher.stop()
        return list(results)

    first, second = run(main)
    assert [t for _, t in recorder.calls] == [["a"], ["b"], ["c"], ["d"]]
    assert (first.queue_seconds, first.encode_seconds) == (0.0, 6.0)
    assert (second.queue_seconds, second.encode_seconds) == (6.0, 2.0)
    assert (first.tokens, second.tokens) == (48, 16)
    assert observer.encoded_calls == [(1, 16, 2.0)] * 4


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
