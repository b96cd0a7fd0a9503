"""A real ``spladekit serve`` process for tests, on a loopback port the system chooses.

The server is started with ``--port 0`` and prints the address it bound on stderr, which goes
to a file that :class:`ServeProcess` reads: no port is guessed, so parallel runs cannot clash.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from support.prometheus import Scrape

START_TIMEOUT = 60.0
READY_TIMEOUT = 180.0


class ServeProcess:
    """``python -m spladekit.cli serve --port 0 ARGS``, its address, and a graceful stop."""

    def __init__(self, args: list[str], folder: Path, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.folder = folder
        self.env = {**os.environ, **(env or {})}
        self.stderr_path = folder / f"serve-{os.getpid()}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> ServeProcess:
        """Start the process and wait until it has bound its address (not until it is ready)."""
        command = [sys.executable, "-m", "spladekit.cli", "serve", "--port", "0", *self.args]
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=stderr, env=self.env
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = re.search(r"listening on (http://\S+)", self.log)
            if found:
                self.url = found.group(1)
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"spladekit serve exited early: {self.log}")
            time.sleep(0.05)
        raise RuntimeError(f"spladekit serve printed no address in {START_TIMEOUT} s: {self.log}")

    @property
    def log(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> list[int]:
        """Poll /health until it answers 200; returns every status seen on the way."""
        seen: list[int] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log
            try:
                status = httpx.get(f"{self.url}/health", timeout=5).status_code
            except httpx.TransportError:
                status = 0
            seen.append(status)
            if status == 200:
                return seen
            time.sleep(0.05)
        raise RuntimeError(f"{self.url} was not ready in {timeout} s: {self.log}")

    def terminate(self) -> None:
        """Send SIGTERM (the graceful stop)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then the exit status (killed after ``timeout`` seconds)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.terminate()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def scrape(self) -> Scrape:
        """GET /metrics, parsed."""
        answer = httpx.get(f"{self.url}/metrics", timeout=10)
        assert answer.status_code == 200, answer.text
        return Scrape(answer.text)

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """One sample of /metrics by exact name and labels (0 when absent, as Prometheus reads
        a series not yet seen), e.g. ``metric("spladekit_queue_depth")``."""
        return self.scrape().value(name, labels, default=0.0)

def post(url: str, path: str, body: Any, key: str | None = None, **kwargs: Any) -> httpx.Response:
    """POST a JSON body (or raw bytes) with an optional API key."""
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{url}{path}", content=content, headers=headers, timeout=60, **kwargs)
