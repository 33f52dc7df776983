"""The HTTP API and the dashboard: FastAPI, served by ``lnere up`` beside the worker.

Writes go to the journeys' Workflow Updates (the same validators and rules as the CLI and the
importer); reads come from the event store (a journey) and the journey counts projection
(inbox, figures, reports). Access is decided before a request is routed to its handler: no
token → 401, a role the route does not allow → 403, then the body is read (at most
``api_max_body_bytes``, else 413) and validated (422 with one message per field).
"""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.middleware.trustedhost import TrustedHostMiddleware
from temporalio.client import Client
from temporalio.service import RPCError

from lnere import logs, metrics, tracing
from lnere.api import routes
from lnere.api.access import AccessControl, BodyCheck, SecurityHeaders
from lnere.api.codec import MAX_BODY as CODEC_MAX_BODY
from lnere.api.codec import CodecSessions, create_codec_app, session_secret
from lnere.api.desk import pages as desk
from lnere.api.models import RefusalAnswer, validation_answer
from lnere.api.public import status_page
from lnere.api.services import DiscoverProcesses, Services
from lnere.application.gateway import JourneyClient
from lnere.application.review_desk import ReviewDesk
from lnere.application.staff import Authenticator, StaffDirectory
from lnere.application.status_lookup import StatusLookup
from lnere.domain.identity import JOURNEY_ID_PATTERN
from lnere.domain.process import ProcessCatalog
from lnere.domain.refusals import Refusal, RefusalKind, Refused
from lnere.projections.runner import open_view
from lnere.settings import Settings
from lnere.store.claims import open_claims
from lnere.store.documents import open_documents
from lnere.store.registry import JourneyRegistry

log = logs.get_logger("lnere.api")

STATIC = Path(__file__).parent / "static"
JOURNEY_ID = re.compile(JOURNEY_ID_PATTERN)


def create_app(
    settings: Settings,
    *,
    client: Client | None = None,
    processes: ProcessCatalog | None = None,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from lnere.application.gateway import connect, load_processes

        catalog = processes or load_processes(settings)
        catalog.discover_on_get = False  # read off a request's path (DiscoverProcesses)
        temporal = client or await connect(settings, lazy=True)
        registry = JourneyRegistry(env=settings.event_store_env())
        documents = open_documents(settings)
        claims = open_claims(settings)
        view = open_view(settings)
        journeys = JourneyClient(temporal, catalog, settings.journey_key_bytes, settings.task_queue, registry,
                                 documents)
        state = Services(settings, catalog, journeys, view, registry, documents,
                         ReviewDesk(journeys, registry, documents, claims, view,
                                    timedelta(minutes=settings.review_claim_minutes)),
                         StatusLookup(registry, settings.journey_key_bytes))
        app.state.services = state
        state.watcher.start()
        try:
            yield
        finally:
            await state.watcher.stop()
            view.datastore.close()
            claims.close()
            documents.close()
            registry.close()

    # API docs (/docs, /redoc) served from the installed fastapi-offline package: no CDN, and
    # they work offline.
    app = FastAPIOffline(
        title="lnere",
        version="1",
        summary="Registration of Mexican citizens who vote from abroad (LNERE): journeys, review, figures.",
        description=(
            "Send `Authorization: Bearer <token>`; tokens are given by `lnere staff add`. Each operation "
            "lists the roles allowed to call it (`x-roles`). Business time is data: every command carries "
            "`at`, the time it happened. Personal data travel only in bodies, never in paths or queries."
        ),
        lifespan=lifespan,
    )
    app.state.authenticator = authenticator or StaffDirectory(settings.staff_path)
    app.add_middleware(DiscoverProcesses)
    app.add_middleware(BodyCheck, limit=settings.api_max_body_bytes, larger={"/codec/": CODEC_MAX_BODY},
                       files=(routes.documents.UPLOAD_PATHS, routes.documents.MAX_UPLOAD))
    concerns = (routes.figures, routes.review, routes.journeys, routes.attention, routes.lists, routes.calendar,
                routes.reports, routes.campaigns, routes.documents)
    app.add_middleware(AccessControl, authenticator_of=lambda scope: scope["app"].state.authenticator,
                       routes=[route for concern in concerns for route in concern.router.routes],
                       public=settings.public_dashboard)
    # Latency and answers by route (its template: no journey id or process in a label).
    Instrumentator(excluded_handlers=["/metrics", "/healthz", "/readyz", "/static/.*"]).instrument(app)
    # Only the names this API is reached by: a page of another site whose name was rebound to
    # this address (DNS rebinding) is answered 400, before any route or the codec sees it.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.trusted_hosts)
    app.add_middleware(SecurityHeaders)  # outermost: every answer carries them, refusals included
    _add_error_handlers(app)
    if settings.tracing:
        tracing.instrument_app(app)
    for concern in concerns:
        app.include_router(concern.router)
    desk.install(app, settings)
    status_page.install(app, settings)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Temporal's Web UI decodes journey payloads here (see api/codec.py).
    app.mount("/codec", create_codec_app(
        settings.data_converter().payload_codec,
        authenticator=lambda: app.state.authenticator,
        sessions=CodecSessions(session_secret(settings.journey_key_bytes)),
        ui_origins=settings.codec_origins,
        tokens=(settings.codec_tokens or "").split(","),
        on_read=lambda who, journeys: _record_decoded(app, who, journeys),
    ))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                                 description=app.description, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _record_decoded(app: FastAPI, who: str, journeys: list[str]) -> None:
    """Payloads decoded in Temporal's Web UI: a read of each journey's personal data."""
    for journey in journeys:
        if JOURNEY_ID.fullmatch(journey):
            app.state.services.documents.record_read(journey, who, "codec", "personal_data", None)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_answer(error), status_code=422)

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> JSONResponse:
        if error.refusal.kind is RefusalKind.UNAVAILABLE:
            log.error("workflow engine unavailable", path=request.url.path)
        metrics.API_REFUSALS.labels(rule=error.refusal.rule, status=str(STATUS_BY_KIND[error.refusal.kind])).inc()
        return _refusal_response(error.refusal)

    @app.exception_handler(RPCError)
    async def engine_unavailable(request: Request, error: Exception) -> JSONResponse:
        log.error("workflow engine unavailable", path=request.url.path, error=type(error).__name__)
        return JSONResponse({"detail": "the workflow engine did not answer; retry (commands count once)"},
                            status_code=503)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("unexpected error", path=request.url.path, error=type(error).__name__)
        return JSONResponse({"detail": "internal error; it was logged"}, status_code=500)


STATUS_BY_KIND = {RefusalKind.INVALID: 422, RefusalKind.CONFLICT: 409, RefusalKind.NOT_FOUND: 404,
                  RefusalKind.UNAVAILABLE: 503}


def _refusal_response(refusal: Refusal) -> JSONResponse:
    """A refused command, by its kind: 422 when a field of the command is the reason (in the shape
    of a validation error), 409 when the journey's or the process's state is, 404 when there is
    no such journey or process, 503 when the engine did not answer (send it again)."""
    status = STATUS_BY_KIND[refusal.kind]
    if status == 422:
        return JSONResponse({"detail": [{"loc": ["body", *refusal.field.split(".")], "msg": refusal.message,
                                         "type": refusal.rule}]}, status_code=422)
    body = RefusalAnswer(detail=refusal.message, field=refusal.field, rule=refusal.rule, kind=refusal.kind.value)
    return JSONResponse(body.model_dump(), status_code=status)


