"""The service's Prometheus metrics, in a registry of its own (several apps may share a process).

- ``spladekit_requests_total{endpoint, status}``: answered requests;
- ``spladekit_request_duration_seconds{endpoint}``: time from request to answer;
- ``spladekit_queue_depth``: texts admitted to the batcher and not yet answered;
- ``spladekit_batch_size`` / ``spladekit_batch_tokens``: texts and tokens per encode call;
- ``spladekit_encode_duration_seconds``: time per encode call;
- ``spladekit_queue_duration_seconds``: time a request waited before its first encode call.
"""

from __future__ import annotations

from .config import missing

try:
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        generate_latest,
    )
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise missing("prometheus_client", exc) from exc

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_TOKENS = (16, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536)


class ServiceMetrics:
    """Counters and histograms of one service; every method is thread-safe."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "spladekit_requests", "Requests answered, by endpoint and HTTP status.",
            ["endpoint", "status"], registry=self.registry,
        )
        self._request_seconds = Histogram(
            "spladekit_request_duration_seconds", "Time from request to answer.",
            ["endpoint"], buckets=_LATENCY, registry=self.registry,
        )
        self._queue = Gauge(
            "spladekit_queue_depth", "Texts admitted to the batcher and not yet answered.",
            registry=self.registry,
        )
        self._batch_size = Histogram(
            "spladekit_batch_size", "Texts per encode call.", buckets=_SIZES,
            registry=self.registry,
        )
        self._batch_tokens = Histogram(
            "spladekit_batch_tokens", "Tokens per encode call.", buckets=_TOKENS,
            registry=self.registry,
        )
        self._encode_seconds = Histogram(
            "spladekit_encode_duration_seconds", "Time per encode call.", buckets=_LATENCY,
            registry=self.registry,
        )
        self._queue_seconds = Histogram(
            "spladekit_queue_duration_seconds",
            "Time a request waited in the queue before its first encode call.",
            buckets=_LATENCY, registry=self.registry,
        )

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        self._requests.labels(endpoint, str(status)).inc()
        self._request_seconds.labels(endpoint).observe(seconds)

    def waited(self, seconds: float) -> None:
        self._queue_seconds.observe(seconds)

    # BatchObserver
    def queued(self, texts: int) -> None:
        self._queue.set(texts)

    def encoded(self, texts: int, tokens: int, seconds: float) -> None:
        self._batch_size.observe(texts)
        self._batch_tokens.observe(tokens)
        self._encode_seconds.observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


__all__ = ["CONTENT_TYPE", "ServiceMetrics"]
