"""What an operator watches: lnere's Prometheus metrics (declared once, here) and the health
endpoints of the worker and the projection runner.

Each service exposes ``/metrics`` (Prometheus text), ``/healthz`` (liveness: the process
answers) and ``/readyz`` (readiness: 200, or 503 with the reasons). The API serves them on its
own port; the worker and the runner on ``LNERE_WORKER_HEALTH_PORT`` and
``LNERE_PROJECTION_HEALTH_PORT`` (README, "What lnere up serves"). The worker's ``/metrics``
also carries the Temporal SDK's own metrics (``temporal_*``).
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

# -- commands (worker: what its activities record; API: refusals it answers) ---------------------
COMMANDS = Counter("lnere_commands_total", "Journey and outreach commands decided, by kind and outcome "
                   "(recorded, repeated, refused)", ["kind", "outcome"])
REFUSALS = Counter("lnere_refusals_total", "Commands refused, by rule", ["rule"])
STATUS_LOOKUPS = Counter("lnere_status_lookups_total", "Citizens' lookups of their request's status, by outcome "
                         "(found, not_found, limited); never what was typed", ["outcome"])

# -- the projection runner ---------------------------------------------------------------------
PROJECTION_POSITION = Gauge("lnere_projection_position", "Position of the last event the projection applied",
                            ["projection"])
PROJECTION_LOG_HEAD = Gauge("lnere_projection_log_head", "Position of the last event recorded in the event store",
                            ["projection"])
PROJECTION_LAG = Gauge("lnere_projection_lag_events", "Events recorded but not yet applied by the projection",
                       ["projection"])
PROJECTION_HALTED = Gauge("lnere_projection_halted", "1 while the projection is halted at an event it cannot "
                          "apply", ["projection"])
PROJECTION_HALTS = Counter("lnere_projection_halts_total", "Times the projection halted at an event",
                           ["projection"])
PROJECTION_EVENTS = Counter("lnere_projection_events_total", "Events the projection applied or passed over",
                            ["projection"])

# -- milestones and deliveries (worker) --------------------------------------------------------
MILESTONE_JOURNEYS = Counter("lnere_milestone_journeys_total", "Journeys a milestone read (seen) and moved "
                             "(changed), by process and milestone", ["process", "milestone", "result"])
MILESTONE_PAGES = Histogram("lnere_milestone_page_seconds", "Seconds to apply a milestone to one page of journeys",
                            ["milestone"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

# -- the API -----------------------------------------------------------------------------------
API_REFUSALS = Counter("lnere_api_refusals_total", "Requests the API refused with a rule, by rule and status",
                       ["rule", "status"])


def count_command(kind: str, outcome: str, rule: str | None = None) -> None:
    COMMANDS.labels(kind=kind, outcome=outcome).inc()
    if rule is not None:
        REFUSALS.labels(rule=rule).inc()


Readiness = Callable[[], list[str]]  # the reasons the service is not ready; empty: ready


def exposition(extra_url: str | None = None) -> bytes:
    """This process's metrics; with ``extra_url``, another exporter's (the Temporal SDK's) after them."""
    text = generate_latest()
    if extra_url:
        try:
            with urllib.request.urlopen(extra_url, timeout=2) as answer:
                text += answer.read()
        except OSError:
            pass  # the SDK's exporter not up yet: ours alone
    return text


def health_app(component: str, readiness: Readiness, sdk_metrics_url: str | None = None) -> Any:
    """The ASGI app of a service's ``/metrics``, ``/healthz`` and ``/readyz``."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def metrics(_request) -> Response:
        import asyncio

        body = await asyncio.to_thread(exposition, sdk_metrics_url)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def healthz(_request) -> JSONResponse:
        return JSONResponse({"component": component, "status": "alive"})

    async def readyz(_request) -> JSONResponse:
        import asyncio

        reasons = await asyncio.to_thread(readiness)
        return JSONResponse({"component": component, "ready": not reasons, "reasons": reasons},
                            status_code=503 if reasons else 200)

    return Starlette(routes=[Route("/metrics", metrics), Route("/healthz", healthz), Route("/readyz", readyz)])


class HealthServer:
    """Serves ``health_app`` on a thread of its own (the service's loop or threads stay its own).
    A port already taken (another worker on this machine) is reported and the service runs on
    without the endpoint: health is not a reason to stop taking commands."""

    def __init__(self, component: str, host: str, port: int, readiness: Readiness,
                 sdk_metrics_url: str | None = None) -> None:
        import uvicorn

        self.component, self.host, self.port = component, host, port
        config = uvicorn.Config(health_app(component, readiness, sdk_metrics_url), host=host, port=port,
                                log_config=None, access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    def start(self) -> HealthServer:
        import logging
        import socket

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as error:
            sock.close()
            logging.getLogger("lnere.metrics").warning(
                "health and metrics endpoint not served: %s:%s is taken (%s)", self.host, self.port, error.strerror)
            return self
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       name=f"{self.component}-health", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=5)
