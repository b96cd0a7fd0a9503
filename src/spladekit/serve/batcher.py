"""The dynamic batcher: concurrent requests merged into encode calls under a token budget.

Requests arrive as work already prepared for the model (the service's tokenised texts, with
each text's token count) and wait in an asyncio queue; one dispatcher task on the event loop
takes them in arrival order, fills a batch up to ``max_batch_tokens`` (a request larger than
the room left is split across batches; a lone text over the budget is encoded alone), and hands
the batch to a worker thread (the caller's executor), so the event loop never encodes. Texts
that must be encoded differently (their settings key differs) share the batch but not an
encode call: each settings key gets one call, given the pieces ``(work, lo, hi)`` of every
request in it, and returns one row per text. Each request's rows are then a row range of that
result, taken without copying; SPLADE vectors do not depend on what else is in a call, so every
request gets exactly the rows that encoding it alone in the process would give, in its order.

When requests are waiting, a batch waits up to ``window`` seconds (a few milliseconds) for more,
since more are on their way; a lone request is encoded at once. Admission is bounded:
:meth:`Batcher.slot` refuses at once (:class:`Overloaded`) when the texts queued or being encoded
would exceed ``max_texts``, so callers answer 429 instead of waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from ..vectors import SparseVectors, join_rows, stack_arrays

K = TypeVar("K", bound=Hashable)
W = TypeVar("W")

Piece = tuple[W, int, int]
"""Texts ``lo`` to ``hi`` of one request's work."""


class Overloaded(Exception):
    """More texts are queued or being encoded than the batcher admits."""


class Stopped(Exception):
    """The batcher is stopping (or stopped) and takes no new work."""


class BatchObserver(Protocol):
    """Where the batcher reports what it does (the service's metrics)."""

    def queued(self, texts: int) -> None:
        """Texts admitted and not yet answered, after a change."""

    def encoded(self, texts: int, tokens: int, seconds: float) -> None:
        """One encode call finished."""


class Ticket:
    """Texts admitted by :meth:`Batcher.slot`; those not yet submitted count as arriving."""

    __slots__ = ("arriving", "texts")

    def __init__(self, texts: int) -> None:
        self.texts = texts
        self.arriving = texts


@dataclass(frozen=True)
class BatchResult:
    """One request's vectors, with how long it waited and how long its encode calls took."""

    vectors: SparseVectors
    tokens: int
    queue_seconds: float
    encode_seconds: float


@dataclass(eq=False)
class _Job(Generic[W, K]):
    work: W
    tokens: list[int]
    key: K
    future: asyncio.Future[BatchResult]
    enqueued: float
    parts: list[SparseVectors] = field(default_factory=list)  # row ranges, in text order
    taken: int = 0  # texts handed to a batch so far
    finished: int = 0
    started: float | None = None
    encode_seconds: float = 0.0


Slice = tuple[_Job[W, K], int, int]


class Batcher(Generic[W, K]):
    """Merges concurrent encode requests into batches run by one worker thread.

    ``encode(pieces, key)`` is called on ``executor`` (one worker thread: batches run one at a
    time) with the ``(work, lo, hi)`` pieces of one settings key, and must return one row per
    text of the pieces, in their order: a (texts, dim) :class:`SparseVectors`. Create the
    batcher, ``await start()`` it on the event loop that will submit, and ``await stop()`` it
    to finish what was submitted; the executor stays the caller's to shut down. ``clock``
    (seconds, monotonic) times the waits and encode calls that :class:`BatchResult` and the
    observer report; the gathering window runs on the event loop's own clock.
    """

    def __init__(
        self,
        encode: Callable[[list[Piece[W]], K], SparseVectors],
        dim: int,
        executor: Executor,
        *,
        max_batch_tokens: int,
        max_texts: int,
        window: float = 0.002,
        observer: BatchObserver | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._encode = encode
        self._clock = clock
        self._dim = dim
        self._max_tokens = max_batch_tokens
        self._max_texts = max_texts
        self._window = window
        self._observer = observer
        self._load = 0  # texts admitted by slot() and not yet released
        self._arriving = 0  # of those, texts not yet submitted (being tokenised)
        self._closing = False
        self._queue: asyncio.Queue[_Job[W, K] | None] = asyncio.Queue()
        self._executor = executor
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    @property
    def load(self) -> int:
        """Texts admitted and not yet answered (queued, or in the batch being encoded)."""
        return self._load

    async def start(self) -> None:
        """Start the dispatcher task on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Take no new work and finish everything submitted."""
        self._closing = True
        if self._task is not None and not self._task.done():
            self._queue.put_nowait(None)
            await self._task

    @contextmanager
    def slot(self, texts: int) -> Iterator[Ticket]:
        """Admit ``texts`` texts for the duration of the block, or raise :class:`Overloaded` at
        once when the batcher is full (:class:`Stopped` when it is stopping).

        The ticket goes to :meth:`submit`; until then the texts count as arriving, which tells
        the dispatcher that a batch forming now would do well to wait for them.
        """
        if self._closing or self._failure is not None:
            raise Stopped("the service is shutting down")
        if self._load + texts > self._max_texts:
            raise Overloaded(
                f"{self._load} texts are queued or being encoded and the limit is "
                f"{self._max_texts}; retry shortly"
            )
        ticket = Ticket(texts)
        self._load += texts
        self._arriving += texts
        self._report()
        try:
            yield ticket
        finally:
            self._load -= texts
            self._arriving -= ticket.arriving
            self._report()

    async def submit(self, ticket: Ticket, work: W, tokens: list[int], key: K) -> BatchResult:
        """Encode ``work`` (texts whose token counts are ``tokens``) with settings ``key``,
        batched with other requests; ``ticket`` is the :meth:`slot` that admitted them."""
        if len(tokens) != ticket.texts:
            raise ValueError("submit the texts the slot admitted, with one token count each")
        if self._closing or self._failure is not None or self._task is None:
            raise Stopped("the service is shutting down")
        self._arriving -= ticket.arriving
        ticket.arriving = 0
        loop = asyncio.get_running_loop()
        job: _Job[W, K] = _Job(work, tokens, key, loop.create_future(), self._clock())
        if not tokens:
            return BatchResult(stack_arrays([], self._dim), 0, 0.0, 0.0)
        self._queue.put_nowait(job)
        return await job.future

    # -- the dispatcher ----------------------------------------------------------------------

    def _report(self) -> None:
        if self._observer is not None:
            self._observer.queued(self._load)

    async def _run(self) -> None:
        pending: deque[_Job[W, K]] = deque()
        closing = False
        try:
            while True:
                if not pending:
                    if closing:
                        return
                    job = await self._queue.get()
                    if job is None:
                        return
                    pending.append(job)
                closing = self._drain(pending) or closing
                if not closing and self._window > 0 and (self._arriving or len(pending) > 1):
                    closing = await self._gather(pending)
                await self._encode_batch(self._take(pending))
        except BaseException as exc:  # a bug or a cancelled loop: nobody may wait forever
            self._failure = exc
            for job in pending:
                if not job.future.done():
                    job.future.set_exception(Stopped(f"the batcher failed: {exc!r}"))
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is not None and not item.future.done():
                    item.future.set_exception(Stopped(f"the batcher failed: {exc!r}"))
            if not isinstance(exc, Exception):
                raise

    def _drain(self, pending: deque[_Job[W, K]]) -> bool:
        """Move every queued job to ``pending``; True when the stop marker was among them."""
        closing = False
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is None:
                closing = True
            else:
                pending.append(job)
        return closing

    async def _gather(self, pending: deque[_Job[W, K]]) -> bool:
        """Wait up to the window for more jobs while the batch has room; True on stop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._window
        room = self._max_tokens - sum(sum(j.tokens[j.taken :]) for j in pending)
        while room > 0:
            timeout = deadline - loop.time()
            if timeout <= 0:
                break
            try:
                job = await asyncio.wait_for(self._queue.get(), timeout)
            except asyncio.TimeoutError:
                break
            if job is None:
                return True
            pending.append(job)
            room -= sum(job.tokens)
        return False

    def _take(self, pending: deque[_Job[W, K]]) -> list[Slice[W, K]]:
        """The next batch: texts in arrival order up to the token budget (one at least)."""
        batch: list[Slice[W, K]] = []
        used = 0
        while pending:
            job = pending[0]
            if job.future.done():  # failed in an earlier batch: skip the rest of it
                pending.popleft()
                continue
            start = end = job.taken
            budget = self._max_tokens
            while end < len(job.tokens) and (used == 0 or used + job.tokens[end] <= budget):
                used += job.tokens[end]
                end += 1
            if end > start:
                batch.append((job, start, end))
                job.taken = end
            if end < len(job.tokens):
                break  # the budget is spent inside this job; the rest goes in the next batch
            pending.popleft()
        return batch

    async def _encode_batch(self, batch: list[Slice[W, K]]) -> None:
        groups: dict[K, list[Slice[W, K]]] = {}
        for piece in batch:
            groups.setdefault(piece[0].key, []).append(piece)
        now = self._clock()
        for job, _, _ in batch:
            if job.started is None:
                job.started = now
        loop = asyncio.get_running_loop()
        work = list(groups.items())
        outcomes = await loop.run_in_executor(self._executor, self._encode_groups, work)
        for (_, pieces), (result, seconds) in zip(work, outcomes, strict=True):
            self._deliver(pieces, result, seconds)

    def _encode_groups(
        self, work: list[tuple[K, list[Slice[W, K]]]]
    ) -> list[tuple[SparseVectors | BaseException, float]]:
        """On the worker thread: one encode call per settings key."""
        outcomes: list[tuple[SparseVectors | BaseException, float]] = []
        for key, pieces in work:
            started = self._clock()
            try:
                result: SparseVectors | BaseException = self._encode(
                    [(job.work, lo, hi) for job, lo, hi in pieces], key
                )
            except Exception as exc:  # answered to the requests of this group
                result = exc
            outcomes.append((result, self._clock() - started))
        return outcomes

    def _deliver(
        self, pieces: list[Slice[W, K]], result: SparseVectors | BaseException, seconds: float
    ) -> None:
        if isinstance(result, BaseException):
            for job, _, _ in pieces:
                if not job.future.done():
                    job.future.set_exception(result)
            return
        # The call's rows, in the order of the pieces; each job takes its row range (a view),
        # and a job split across batches gets its ranges in text order (batches run in order).
        row = 0
        tokens = 0
        for job, lo, hi in pieces:
            tokens += sum(job.tokens[lo:hi])
            job.encode_seconds += seconds
            job.parts.append(result.rows(row, row + hi - lo))
            row += hi - lo
            job.finished += hi - lo
            if job.finished == len(job.tokens) and not job.future.done():
                job.future.set_result(BatchResult(
                    join_rows(job.parts),
                    sum(job.tokens),
                    (job.started or job.enqueued) - job.enqueued,
                    job.encode_seconds,
                ))
        if self._observer is not None:
            self._observer.encoded(row, tokens, seconds)


__all__ = ["BatchObserver", "BatchResult", "Batcher", "Overloaded", "Stopped", "Ticket"]
