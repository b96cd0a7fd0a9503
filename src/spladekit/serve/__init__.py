"""``spladekit serve``: a SPLADE service that speaks text-embeddings-inference's contract.

- :mod:`.config`: :class:`ServeConfig`, the service's settings and limits, declared once;
- :mod:`.errors`: error answers: the status table, named constructors, the one JSON writer;
- :mod:`.protocol`: request parsing and validation, the map from library errors, responses;
- :mod:`.batcher`: the dynamic batcher that merges concurrent requests into encode calls;
- :mod:`.metrics`: Prometheus metrics;
- :mod:`.service`: the model, the collection and the batcher, loaded in the background;
- :mod:`.guard`: the outermost layer: the API key, and a metric for every answer;
- :mod:`.request_checks`: the ``Host``, ``Origin`` and ``Content-Type`` rules, header count
  and body timeout, before the application;
- :mod:`.limits`: limits on a request's head, where uvicorn reads it off the socket;
- :mod:`.app`: the ASGI application (routes, body limits, the search page);
- :mod:`.runner`: runs the application under uvicorn until SIGTERM.

The web dependencies (starlette, uvicorn, prometheus_client) are needed only by the modules
that use them: ``pip install "spladekit[serve]"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_getattr

_LAZY = {
    "ServeConfig": "config",
    "create_app": "app",
    "run": "runner",
}

__all__ = ["ServeConfig", "create_app", "run"]

if TYPE_CHECKING:
    from .app import create_app
    from .config import ServeConfig
    from .runner import run


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
