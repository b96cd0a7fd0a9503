"""Ray itself: importing it, joining or starting a cluster, sizing actors, reporting progress.

Ray is an optional dependency (``pip install "spladekit[ray]"``), imported only here and in the
modules of this package that run on Ray workers.

A cluster started here (``address="local"``) runs on this machine and binds loopback only: Ray
reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` when it is first imported, and with it at ``0`` every
Ray server listens on 127.0.0.1 (otherwise on the routable address, even when told
127.0.0.1). So, for a local cluster and when Ray is not imported yet, that variable and
``RAY_USAGE_STATS_ENABLED=0`` (no usage report from a cluster we start) are set in this
process's environment unless already set; the cluster's processes inherit them.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import (
    ClusterError,
    InvalidArgumentError,
    MissingDependencyError,
    SpladeError,
    first_line,
)
from ..options import Progress
from ..validation import int_in_range, non_negative_number, positive_int

RAY_INSTALL = 'pip install "spladekit[ray]"'
LOCAL = "local"
AUTO = "auto"
_ADDRESS = re.compile(r"^(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d+$")
_LOCAL_ENVIRONMENT = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
# Where Ray Data's note on retries starts, in a worker's error message it passes on.
_RAY_RETRY_NOTE = "\nFailed to "
# Seconds between two progress reads on the driver.
PROGRESS_INTERVAL = 0.5


def ray_module(address: str | None = None) -> Any:
    """The ``ray`` module with Ray Data, or an error that says how to install it.

    With ``address="local"``, the first import sets the loopback environment (module
    docstring) before Ray reads it.
    """
    if address == LOCAL and "ray" not in sys.modules:
        for name, value in _LOCAL_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
    try:
        import ray
        import ray.data  # Ray Data is the part spladekit needs
    except ImportError as exc:
        raise MissingDependencyError(
            f"distributed indexing needs Ray Data, which is not installed: {RAY_INSTALL}"
        ) from exc
    return ray


def check_address(address: object) -> str:
    """``local`` (start Ray here), ``auto`` (join the cluster RAY_ADDRESS names or the one
    running here) or a cluster address ``host:port`` / ``ray://host:port``."""
    if not isinstance(address, str):
        raise InvalidArgumentError(f"ray address must be a str, got {type(address).__name__}")
    if address in (LOCAL, AUTO) or _ADDRESS.match(address):
        return address
    raise InvalidArgumentError(
        f"ray address must be 'local', 'auto' or host:port (or ray://host:port); got {address!r}"
    )


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a job runs.

    - ``address``: ``local`` starts a Ray cluster on this machine for the job (and stops it
      after), ``auto`` joins the running one (``RAY_ADDRESS``), ``host:port`` joins that one.
      When this process is already connected to Ray (``ray.init`` was called), that
      connection is used whatever ``address`` says.
    - ``workers``: encoder actors, each loading the model once.
    - ``cpus_per_worker``: CPUs each actor reserves; its torch threads follow. Default: the
      cluster's CPUs shared between the actors (at least 1), or 1 per GPU actor.
    - ``gpus_per_worker``: GPUs each actor reserves (fractions share a GPU); above 0 the
      encoder runs on CUDA (in the precision its config asks for).
    - ``num_cpus`` / ``num_gpus``: what a ``local`` cluster offers (default: what Ray finds on
      this machine).
    - ``init_kwargs``: more arguments for ``ray.init`` (``log_to_driver``, ``logging_level``...).
    """

    address: str = LOCAL
    workers: int = 1
    cpus_per_worker: float | None = None
    gpus_per_worker: float = 0.0
    num_cpus: int | None = None
    num_gpus: int | None = None
    init_kwargs: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        check_address(self.address)
        positive_int("workers", self.workers)
        if (
            self.cpus_per_worker is not None
            and non_negative_number("cpus_per_worker", self.cpus_per_worker) <= 0
        ):
            raise InvalidArgumentError(
                    f"cpus_per_worker must be above 0, got {self.cpus_per_worker!r}"
                )
        non_negative_number("gpus_per_worker", self.gpus_per_worker)
        if self.num_cpus is not None:
            positive_int("num_cpus", self.num_cpus)
        if self.num_gpus is not None:
            int_in_range("num_gpus", self.num_gpus, 0, 1 << 16)
        if self.init_kwargs is not None and not isinstance(self.init_kwargs, Mapping):
            raise InvalidArgumentError(
                f"init_kwargs must be a dict of ray.init arguments, got "
                f"{type(self.init_kwargs).__name__}"
            )

    def worker_cpus(self, cluster_cpus: float) -> float:
        """CPUs each actor reserves on a cluster that has ``cluster_cpus`` in all."""
        if self.cpus_per_worker is not None:
            return self.cpus_per_worker
        if self.gpus_per_worker > 0:
            return 1.0
        return float(max(1, int(cluster_cpus // self.workers)))


@contextlib.contextmanager
def connected(options: RayOptions) -> Iterator[Any]:
    """Ray, connected as ``options.address`` says for the duration; a cluster or connection
    made here is closed at the end, one the caller made is left as it was."""
    ray = ray_module(options.address)
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = dict(options.init_kwargs or {})
    try:
        if options.address == LOCAL:
            kwargs.setdefault("include_dashboard", False)
            ray.init(
                address=LOCAL, num_cpus=options.num_cpus, num_gpus=options.num_gpus,
                _node_ip_address="127.0.0.1", **kwargs,
            )
        else:
            ray.init(address=options.address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = "start Ray on this machine" if options.address == LOCAL else (
            f"join the Ray cluster at {options.address!r}"
        )
        raise ClusterError(f"could not {where}: {first_line(exc, type(exc).__name__)}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray: Any) -> float:
    return float(ray.cluster_resources().get("CPU", 0.0))


def cluster_gpus(ray: Any) -> float:
    return float(ray.cluster_resources().get("GPU", 0.0))


def job_error(error: BaseException) -> SpladeError:
    """What a failed Ray Data job raises: spladekit's own error from a worker (a bad line, a
    Milvus that kept failing) as the driver would have raised it, else a ClusterError."""
    for current in _causes(error):
        # Ray wraps a worker's exception in classes that subclass its type and print a remote
        # traceback; the original, from spladekit's own module, says it in one line.
        if isinstance(current, SpladeError) and type(current).__module__.startswith("spladekit"):
            args = list(current.args)
            if args and isinstance(args[0], str):
                # Ray Data appends its retry advice to the message: not spladekit's words.
                args[0] = args[0].split(_RAY_RETRY_NOTE)[0]
            return type(current)(*args)  # a fresh one: the caller chains Ray's to it
    return ClusterError(f"the Ray job failed: {first_line(error, type(error).__name__)}")


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps (Ray's ``cause``, ``__cause__``, ``__context__``)."""
    seen: set[int] = set()
    queue: list[object] = [error]
    while queue:
        current = queue.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        queue += [getattr(current, "cause", None), current.__cause__, current.__context__]


class ProgressCounter:
    """Documents done so far, summed across workers (runs as a zero-CPU Ray actor)."""

    def __init__(self) -> None:
        self.done = 0

    def add(self, count: int) -> None:
        self.done += count

    def total(self) -> int:
        return self.done


@contextlib.contextmanager
def progress_reports(ray: Any, progress: Progress | None) -> Iterator[Any]:
    """A counter actor for workers to add to (None without ``progress``), and a driver thread
    that passes its increases to ``progress`` while the job runs."""
    if progress is None:
        yield None
        return
    counter = ray.remote(num_cpus=0)(ProgressCounter).remote()
    stop = threading.Event()
    reported = 0

    def report() -> None:
        nonlocal reported
        with contextlib.suppress(Exception):  # progress is best effort, never the job's end
            total = int(ray.get(counter.total.remote(), timeout=30))
            if total > reported:
                progress(total - reported)
                reported = total

    def poll() -> None:
        while not stop.wait(PROGRESS_INTERVAL):
            report()

    thread = threading.Thread(target=poll, name="spladekit-ray-progress", daemon=True)
    thread.start()
    try:
        yield counter
    finally:
        stop.set()
        thread.join()
        report()
        with contextlib.suppress(Exception):
            ray.kill(counter)


__all__ = [
    "AUTO",
    "LOCAL",
    "RAY_INSTALL",
    "ProgressCounter",
    "RayOptions",
    "check_address",
    "cluster_cpus",
    "cluster_gpus",
    "connected",
    "job_error",
    "progress_reports",
    "ray_module",
]
