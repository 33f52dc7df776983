"""The HTTP API and the dashboard: FastAPI, served by ``lnere up`` beside the worker.

Writes go to the journeys' Workflow Updates (the same validators and rules as the CLI and the
importer); reads come from the event store (a journey) and the journey counts projection
(inbox, figures, reports). Access is decided before a request is routed to its handler: no
token → 401, a role the route does not allow → 403, then the body is read (at most
``api_max_body_bytes``, else 413) and validated (422 with one message per field).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import OrderedDict
from contextlib import asynccontextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.routing import Match
from temporalio.client import Client
from temporalio.service import RPCError

import logs
from api.codec import MAX_BODY as CODEC_MAX_BODY
from api.codec import CodecSessions, create_codec_app, session_secret
from api.models import (
    ActivationBody,
    CredentialBody,
    DeliveryBody,
    InboxItem,
    InboxPage,
    JourneyAnswer,
    Me,
    MilestoneBody,
    ObservationBody,
    RefusalAnswer,
    ReopenBody,
    RequestBody,
    ResolutionBody,
    ReviewBody,
    SubsaneBody,
)
from application.gateway import JourneyClient
from application.staff import Authenticator, Role, Staff, StaffDirectory
from domain.commands import (
    ActivateCredential,
    CommandEnvelope,
    DecideReview,
    FileObservation,
    FileRequest,
    FireMilestone,
    RecordCredential,
    RecordDelivery,
    ReopenRejection,
    ResolveObservation,
    SendSubsaneDocuments,
)
from domain.identity import JOURNEY_ID_PATTERN, process_of
from domain.lists import ListKind
from domain.process import Channel, ElectoralProcess, Milestone, Modality, ProcessCatalog
from domain.refusals import Refusal, RefusalKind, Refused
from projections import lists
from projections.journey_counts import JourneyCountsView
from projections.report import build_report, dashboard_figures, render_csv, render_markdown
from projections.runner import open_view
from settings import Settings
from store.registry import JourneyRegistry, event_rows

log = logs.get_logger("lnere.api")

STATIC = Path(__file__).parent / "static"
PREFIX = "/api/v1"
# How long a write waits for its journey's answer before telling the caller to retry (a retry
# is safe: the command's id makes it count once).
ANSWER_TIMEOUT = 30.0
MAX_WAIT = 25.0


# -- access ----------------------------------------------------------------------------------


def roles(*allowed: Role) -> dict[str, Any]:
    """A route's access, read by ``AccessControl`` and shown in the OpenAPI document. The
    supervisor may do everything."""
    names = sorted({*(r.value for r in allowed), Role.SUPERVISOR.value})
    return {"x-roles": names, "security": [{"bearer": []}]}


ANY_ROLE = tuple(Role)


# Every answer: nothing but this origin's own files; no framing, no sniffing, no referrer. The
# API docs pages start Swagger UI / ReDoc with an inline script: only there is one allowed.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
    "img-src 'self' data:", "img-src 'self' data: blob:; worker-src 'self' blob:")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    """ASGI middleware: the security headers on every response."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        docs = scope["path"] in ("/docs", "/redoc") or scope["path"].startswith("/docs/")
        policy = (DOCS_CONTENT_SECURITY_POLICY if docs else CONTENT_SECURITY_POLICY).encode()

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in {name for name, _ in SECURITY_HEADERS} | {b"content-security-policy"}]
                message = {**message, "headers": [*headers, *SECURITY_HEADERS, (b"content-security-policy", policy)]}
            await send(message)

        await self.app(scope, receive, with_headers)


class AccessControl:
    """ASGI middleware: authenticates the bearer token and checks the matched route's roles
    before the body is read, so 401 and 403 come before 413 and 422."""

    def __init__(self, app, authenticator_of) -> None:
        self.app = app
        self.authenticator_of = authenticator_of

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        allowed = _route_roles(scope)
        if allowed is not None:
            token = _bearer(scope)
            if token is None:
                return await _send_json(send, 401, {"detail": "no token: send 'Authorization: Bearer <token>'"},
                                        [(b"www-authenticate", b"Bearer")])
            staff = self.authenticator_of(scope).authenticate(token)
            if staff is None:
                return await _send_json(send, 401, {"detail": "unknown or revoked token"},
                                        [(b"www-authenticate", b"Bearer")])
            if staff.role.value not in allowed:
                return await _send_json(
                    send, 403, {"detail": f"role {staff.role.value} may not do this; it needs {', '.join(allowed)}"}
                )
            scope.setdefault("state", {})["staff"] = staff
        await self.app(scope, receive, send)


def _route_roles(scope) -> list[str] | None:
    for route in scope["app"].router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            extra = getattr(route, "openapi_extra", None) or {}
            return extra.get("x-roles")
    return None


def _bearer(scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


async def _send_json(send, status: int, body: dict[str, Any], headers: list | None = None) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


class BodyCheck:
    """ASGI middleware: a body over ``limit`` bytes gets 413, whether it declares its length
    or streams it; a body that is not UTF-8 (as JSON must be) gets 422. Bodies are small
    (commands), so it reads the body whole before the application sees it."""

    def __init__(self, app, limit: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_limit = limit
        self.larger = larger or {}  # path prefix -> its own limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = next((n for prefix, n in self.larger.items() if scope["path"].startswith(prefix)), self.default_limit)
        too_large = {"detail": f"the body is larger than {limit} bytes"}
        for name, value in scope["headers"]:
            if name == b"content-length" and not value.isdigit():
                return await _send_json(send, 400, {"detail": "Content-Length is not a length"})
            if name == b"content-length" and int(value) > limit:
                return await _send_json(send, 413, too_large)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return await _send_json(send, 413, too_large)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as error:
            return await _send_json(send, 422, {"detail": [
                {"loc": ["body"], "msg": f"the body is not UTF-8 (byte {error.start})", "type": "unicode_error"}]})
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def current_staff(request: Request) -> Staff:
    return request.state.staff


StaffDep = Annotated[Staff, Depends(current_staff)]


# -- state shared by the handlers ---------------------------------------------------------------


class PositionWatcher:
    """Follows the projection's position; long polls wait on it."""

    def __init__(self, view: JourneyCountsView, interval: float = 0.1) -> None:
        self.view, self.interval = view, interval
        self.position = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _follow(self) -> None:
        while True:
            try:
                position = await asyncio.to_thread(self.view.position)
            except Exception as error:  # noqa: BLE001 - a busy database: try again
                log.warning("could not read the projection position", error=type(error).__name__)
            else:
                if position != self.position:
                    self.position = position
                    self._changed.set()
                    self._changed = asyncio.Event()
            await asyncio.sleep(self.interval)

    async def wait_beyond(self, position: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.position <= position and (left := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return


class Services:
    def __init__(self, settings: Settings, processes: ProcessCatalog, journeys: JourneyClient,
                 view: JourneyCountsView, registry: JourneyRegistry) -> None:
        self.settings = settings
        self.processes = processes
        self.journeys = journeys
        self.view = view
        self.registry = registry
        self.watcher = PositionWatcher(view)
        self._figures: OrderedDict[tuple[str, date | None, int], bytes] = OrderedDict()

    def process(self, process_id: str) -> ElectoralProcess:
        try:
            return self.processes.get(process_id)
        except KeyError:
            raise HTTPException(404, f"process: no process {process_id!r}") from None

    def projection_state(self) -> dict[str, Any]:
        """Whether the figures are whole: a halted projection (an event it cannot apply) serves
        the figures of the last good position, marked stale; events an operator skipped are
        named. Holds no personal data (positions, event types, error kinds)."""
        halt = self.view.halt()
        return {"halted": halt is not None, "stale": halt is not None,
                "halt": {k: halt[k] for k in ("position", "topic", "error", "halted_at")} if halt else None,
                "skipped_events": [{k: s[k] for k in ("position", "reason", "skipped_at")} for s in self.view.skips()]}

    def figures_json(self, process: ElectoralProcess, as_of: date | None) -> tuple[bytes, int]:
        """The dashboard's figures as JSON (computed once per log position), and the log's head."""
        head = self.registry.recorder.max_notification_id() or 0
        key = (process.id, as_of, self.view.position())
        cached = self._figures.get(key)
        if cached is None:
            figures = dashboard_figures(self.view, process, as_of)
            cached = json.dumps(figures, ensure_ascii=False).encode()
            key = (process.id, as_of, figures["log_position"])
            self._figures[key] = cached
            while len(self._figures) > 64:
                self._figures.popitem(last=False)
        return cached, head


def services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(services)]
JourneyId = Annotated[str, PathParam(pattern=JOURNEY_ID_PATTERN, description="a journey id (journey-…)")]


# -- the application --------------------------------------------------------------------------


def create_app(
    settings: Settings,
    *,
    client: Client | None = None,
    processes: ProcessCatalog | None = None,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from application.gateway import connect, load_processes

        catalog = processes or load_processes(settings)
        temporal = client or await connect(settings, lazy=True)
        registry = JourneyRegistry(env=settings.event_store_env())
        view = open_view(settings)
        state = Services(settings, catalog,
                         JourneyClient(temporal, catalog, settings.journey_key_bytes, settings.task_queue, registry),
                         view, registry)
        app.state.services = state
        state.watcher.start()
        try:
            yield
        finally:
            await state.watcher.stop()
            view.datastore.close()
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
    app.add_middleware(BodyCheck, limit=settings.api_max_body_bytes, larger={"/codec/": CODEC_MAX_BODY})
    app.add_middleware(AccessControl, authenticator_of=lambda scope: scope["app"].state.authenticator)
    app.add_middleware(SecurityHeaders)  # outermost: every answer carries them, refusals included
    _add_error_handlers(app)
    _add_routes(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Temporal's Web UI decodes journey payloads here (see api/codec.py).
    app.mount("/codec", create_codec_app(
        settings.data_converter().payload_codec,
        authenticator=lambda: app.state.authenticator,
        sessions=CodecSessions(session_secret(settings.journey_key_bytes)),
        ui_origins=settings.codec_origins,
        tokens=(settings.codec_tokens or "").split(","),
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


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        # One message per field; the input is not echoed back (it may be personal data).
        details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
        return JSONResponse({"detail": details}, status_code=422)

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> JSONResponse:
        if error.refusal.kind is RefusalKind.UNAVAILABLE:
            log.error("workflow engine unavailable", path=request.url.path)
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


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    MD = "md"


class ReviewRound(StrEnum):
    FIRST = "first"
    RE_REVIEW = "re_review"


def _cursor(item: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(f"{item['in_review_since']}|{item['journey_id']}".encode()).decode()


def _parse_cursor(cursor: str) -> tuple[str, str]:
    try:
        since, journey_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    except Exception:  # noqa: BLE001 - any malformed cursor is the caller's error
        raise RequestValidationError([{"loc": ("query", "after"), "msg": "not a cursor given by this API",
                                       "type": "value_error"}]) from None
    return since, journey_id


def _add_routes(app: FastAPI) -> None:
    async def send(state: Services, envelope: CommandEnvelope) -> JourneyAnswer:
        try:
            status = await asyncio.wait_for(state.journeys.send(envelope), ANSWER_TIMEOUT)
        except TimeoutError:
            raise HTTPException(504, "the journey did not answer in time; retry (the command counts once)") from None
        return JourneyAnswer(journey=status.workflow_id, status=status)

    async def existing(state: Services, journey: str) -> tuple[ElectoralProcess, Any]:
        """The journey's process and status; 404 if there is no such journey."""
        status = await asyncio.to_thread(state.registry.status, journey)
        if status is None:
            raise HTTPException(404, "journey: no such journey")
        return state.process(process_of(journey)), status

    async def to_journey(state: Services, journey: str, command) -> JourneyAnswer:
        # The journey client checks the command against the recorded journey before it wakes
        # the journey's workflow (a run ends once idle).
        process, _ = await existing(state, journey)
        return await send(state, CommandEnvelope(process=process.id, journey=journey, command=command))

    # -- who am I, processes, configuration ---------------------------------------------------

    @app.get(f"{PREFIX}/me", response_model=Me, openapi_extra=roles(*ANY_ROLE), tags=["access"])
    async def me(staff: StaffDep) -> Me:
        return Me(staff=staff.id, role=staff.role.value)

    @app.get(f"{PREFIX}/processes", openapi_extra=roles(*ANY_ROLE), tags=["figures"])
    async def list_processes(state: ServicesDep) -> list[dict[str, Any]]:
        return [
            {"id": p.id, "name": p.name, "timezone": p.timezone,
             "states": [{"code": s.code, "name": s.name} for s in p.states],
             "channels": [c.value for c in p.channels], "modalities": [m.value for m in p.modalities]}
            for p in state.processes
        ]

    @app.get(f"{PREFIX}/configuration", openapi_extra=roles(), tags=["administration"])
    async def configuration(state: ServicesDep) -> dict[str, Any]:
        secret = {name for name, field in Settings.model_fields.items() if not field.repr}
        return {
            "settings": state.settings.model_dump(mode="json", exclude=secret),
            "processes": [p.model_dump(mode="json") for p in state.processes],
        }

    # -- figures and reports --------------------------------------------------------------------

    @app.get(f"{PREFIX}/processes/{{process}}/figures", openapi_extra=roles(*ANY_ROLE), tags=["figures"])
    async def figures(
        state: ServicesDep,
        process: str,
        as_of: Annotated[date | None, Query(description="business day; omit for everything recorded (live)")] = None,
        after: Annotated[int | None, Query(ge=0, description="answer once the figures pass this log position")] = None,
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT, description="seconds to wait for that")] = 20.0,
    ) -> Response:
        """Live counts: the report's tables, the sex × age pyramid and requests per day, with the
        event-log position they reflect and the log's head. With ``after``, a long poll."""
        electoral_process = state.process(process)
        if after is not None:
            await state.watcher.wait_beyond(after, wait)
        body, head = await asyncio.to_thread(state.figures_json, electoral_process, as_of)
        projection = await asyncio.to_thread(state.projection_state)
        prefix = b'{"log_head":%d,"projection":%s,' % (head, json.dumps(projection).encode())
        return Response(content=prefix + body[1:], media_type="application/json")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness: the API answers."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(state: ServicesDep) -> JSONResponse:
        """Readiness: the figures can be trusted (the projection is not halted). 503 with the
        reason when it is: the figures are then those of the last good position."""
        projection = await asyncio.to_thread(state.projection_state)
        return JSONResponse({"status": "halted" if projection["halted"] else "ready", "projection": projection},
                            status_code=503 if projection["halted"] else 200)

    @app.get(f"{PREFIX}/processes/{{process}}/report", openapi_extra=roles(*ANY_ROLE), tags=["figures"],
             responses={200: {"content": {"text/csv": {}, "text/markdown": {}}}})
    async def report(
        state: ServicesDep,
        process: str,
        as_of: Annotated[date | None, Query(description="business day; omit for everything recorded")] = None,
        format: ReportFormat = ReportFormat.JSON,
    ) -> Response:
        """Report section 4.1 as of a business day."""
        figures = await asyncio.to_thread(build_report, state.view, state.process(process), as_of)
        if format is ReportFormat.CSV:
            return PlainTextResponse(render_csv(figures), media_type="text/csv; charset=utf-8")
        if format is ReportFormat.MD:
            return PlainTextResponse(render_markdown(figures), media_type="text/markdown; charset=utf-8")
        return JSONResponse(figures)

    # -- review inbox -----------------------------------------------------------------------------

    @app.get(f"{PREFIX}/processes/{{process}}/review-inbox", response_model=InboxPage,
             openapi_extra=roles(Role.REVIEWER), tags=["review"])
    async def review_inbox(
        state: ServicesDep,
        process: str,
        state_of_reference: Annotated[str | None, Query(pattern=r"^\d{2}$", description="entity code")] = None,
        country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
        modality: Modality | None = None,
        channel: Channel | None = None,
        review: Annotated[ReviewRound | None, Query(description="first review, or re-review after subsane")] = None,
        after: Annotated[str | None, Query(max_length=200, description="cursor from the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> InboxPage:
        """Journeys awaiting a review decision, oldest first."""
        electoral_process = state.process(process)
        filters = {name: value for name, value in (("state_of_reference", state_of_reference), ("country", country),
                   ("modality", modality), ("channel", channel)) if value is not None}
        rows = await asyncio.to_thread(
            state.view.review_inbox, electoral_process.id, filters=filters,
            re_review=None if review is None else review is ReviewRound.RE_REVIEW,
            after=_parse_cursor(after) if after else None, limit=limit + 1,
        )
        page = rows[:limit]
        return InboxPage(
            items=[InboxItem(journey=r["workflow_id"], in_review_since=r["in_review_since"], re_review=r["reviews"] > 1,
                             state_of_reference=r["state_of_reference"], country=r["country"], modality=r["modality"],
                             channel=r["channel"], credential_kind=r["credential_kind"]) for r in page],
            next_cursor=_cursor(page[-1]) if len(rows) > limit else None,
        )

    # -- journeys: reading --------------------------------------------------------------------------

    @app.get(f"{PREFIX}/journeys/{{journey}}", response_model=JourneyAnswer,
             openapi_extra=roles(Role.OPERATOR, Role.REVIEWER), tags=["journeys"])
    async def journey_status(state: ServicesDep, journey: JourneyId) -> JourneyAnswer:
        _, status = await existing(state, journey)
        return JourneyAnswer(journey=journey, status=status)

    @app.get(f"{PREFIX}/journeys/{{journey}}/history", openapi_extra=roles(Role.REVIEWER), tags=["journeys"])
    async def journey_history(state: ServicesDep, journey: JourneyId) -> dict[str, Any]:
        """The journey's events (personal data stay sealed: see personal-data)."""
        events = await asyncio.to_thread(state.registry.history, journey)
        if not events:
            raise HTTPException(404, "journey: no such journey")
        return {"journey": journey, "events": jsonable_encoder(event_rows(events))}

    @app.get(f"{PREFIX}/journeys/{{journey}}/personal-data", openapi_extra=roles(Role.REVIEWER), tags=["journeys"])
    async def personal_data(state: ServicesDep, staff: StaffDep, journey: JourneyId) -> dict[str, Any]:
        """The citizen's credential, address and contact, for the review. Every read is logged
        (who and which journey, not the data)."""
        await existing(state, journey)
        data = await asyncio.to_thread(state.registry.personal_data, journey)
        log.info("personal data read", staff=staff.id, journey=journey, erased=data is None)
        return {"journey": journey, "erased": data is None, "personal_data": data}

    # -- journeys: commands ---------------------------------------------------------------------------

    @app.post(f"{PREFIX}/processes/{{process}}/credentials", response_model=JourneyAnswer,
              responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.OPERATOR), tags=["journeys"])
    async def record_credential(state: ServicesDep, staff: StaffDep, process: str,
                                body: CredentialBody) -> JourneyAnswer:
        """Records a citizen's credential; starts the citizen's journey."""
        command = RecordCredential(**dict(body), recorded_by=staff.id)
        return await send(state, CommandEnvelope(process=state.process(process).id, clave=command.credential.clave,
                                                 command=command))

    @app.post(f"{PREFIX}/processes/{{process}}/requests", response_model=JourneyAnswer,
              responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.OPERATOR), tags=["journeys"])
    async def file_request(state: ServicesDep, staff: StaffDep, process: str, body: RequestBody) -> JourneyAnswer:
        """Files a registration request (SIILNERE): by phone (INETEL) or on the web (SRVE)."""
        fields = {k: v for k, v in dict(body).items() if k != "clave"}
        command = FileRequest(**fields, recorded_by=staff.id)
        return await send(state, CommandEnvelope(process=state.process(process).id, clave=body.citizen_clave(),
                                                 command=command))

    @app.post(f"{PREFIX}/journeys/{{journey}}/credential-activation", response_model=JourneyAnswer,
              responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.OPERATOR), tags=["journeys"])
    async def activate_credential(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                                  body: ActivationBody) -> JourneyAnswer:
        return await to_journey(state, journey, ActivateCredential(**dict(body), recorded_by=staff.id))

    @app.post(f"{PREFIX}/journeys/{{journey}}/review", response_model=JourneyAnswer,
              responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.REVIEWER), tags=["review"])
    async def decide_review(state: ServicesDep, staff: StaffDep, journey: JourneyId, body: ReviewBody) -> JourneyAnswer:
        """Decides a review; the caller is the reviewer. Two decisions at once: one is recorded,
        the other gets 409."""
        return await to_journey(state, journey, DecideReview(**dict(body), reviewer=staff.id, recorded_by=staff.id))

    @app.post(f"{PREFIX}/journeys/{{journey}}/subsane-documents", response_model=JourneyAnswer,
              responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.OPERATOR), tags=["review"])
    async def subsane_documents(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                                body: SubsaneBody) -> JourneyAnswer:
        return await to_journey(state, journey, SendSubsaneDocuments(**dict(body), recorded_by=staff.id))

    @app.post(f"{PREFIX}/journeys/{{journey}}/rejection-reopening", response_model=JourneyAnswer,
              responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.REVIEWER), tags=["review"])
    async def reopen_rejection(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                               body: ReopenBody) -> JourneyAnswer:
        return await to_journey(state, journey, ReopenRejection(**dict(body), staff=staff.id, recorded_by=staff.id))

    @app.post(f"{PREFIX}/journeys/{{journey}}/observations", response_model=JourneyAnswer,
              responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.PARTY), tags=["final list"])
    async def file_observation(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                               body: ObservationBody) -> JourneyAnswer:
        """A party's observation on a citizen of the list for review, inside the observation window.
        The party and its representative are the caller's."""
        if staff.party is None:
            raise HTTPException(403, "only a party representative files observations")
        answer = await to_journey(state, journey, FileObservation(**dict(body), party=staff.party,
                                                                  representative=staff.id, recorded_by=staff.id))
        return answer.model_copy(update={"status": answer.status.as_seen_by_party(staff.party)})

    @app.post(f"{PREFIX}/journeys/{{journey}}/observations/{{observation_id}}/resolution",
              response_model=JourneyAnswer, responses={409: {"model": RefusalAnswer}},
              openapi_extra=roles(Role.REVIEWER), tags=["final list"])
    async def resolve_observation(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                                  observation_id: Annotated[str, PathParam(pattern=r"^[A-Z0-9_]{1,60}$")],
                                  body: ResolutionBody) -> JourneyAnswer:
        """Upheld: the citizen is excluded with the reason. Dismissed: the citizen stays."""
        return await to_journey(state, journey, ResolveObservation(
            **dict(body), observation_id=observation_id, resolver=staff.id, recorded_by=staff.id))

    @app.post(f"{PREFIX}/journeys/{{journey}}/delivery", response_model=JourneyAnswer,
              responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.OPERATOR), tags=["final list"])
    async def record_delivery(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                              body: DeliveryBody) -> JourneyAnswer:
        """The carrier's or the voting system's news for an included citizen (sent, delivered,
        returned; access issued). Sent to the journey whose workflow has ended: a new run answers
        from the event store."""
        process, _ = await existing(state, journey)
        command = RecordDelivery(**dict(body), recorded_by=staff.id)
        answer = await asyncio.wait_for(state.journeys.send_batch(process.id, journey, [command]), ANSWER_TIMEOUT)
        outcome = answer.outcomes[0]
        if outcome.refusal is not None:
            raise Refused(outcome.refusal)
        assert answer.status is not None
        return JourneyAnswer(journey=journey, status=answer.status)

    @app.get(f"{PREFIX}/processes/{{process}}/lists", openapi_extra=roles(*ANY_ROLE), tags=["final list"])
    async def list_cuts(state: ServicesDep, process: str) -> list[dict[str, Any]]:
        """The lists cut so far: position, and per part its size and export hash."""
        electoral_process = state.process(process)
        cuts = [await asyncio.to_thread(state.registry.list_cut, electoral_process.id, k)
                for k in ListKind]
        return [cut.summary() for cut in cuts if cut is not None]

    @app.get(f"{PREFIX}/processes/{{process}}/lists/departures", openapi_extra=roles(Role.REVIEWER),
             tags=["final list"])
    async def list_departures(state: ServicesDep, process: str) -> dict[str, Any]:
        """Who was in the list for review and is not in the definitive list, and why."""
        electoral_process = state.process(process)
        review, definitive = [await asyncio.to_thread(state.registry.list_cut, electoral_process.id, k)
                              for k in ListKind]
        if review is None or definitive is None:
            raise HTTPException(404, "list: both lists must have been cut")
        left = await asyncio.to_thread(lists.departures, state.view, electoral_process, review.position,
                                       definitive.position)
        return {"review_position": review.position, "definitive_position": definitive.position, "departures": left}

    @app.get(f"{PREFIX}/processes/{{process}}/lists/{{kind}}/{{entity}}", openapi_extra=roles(Role.PARTY),
             tags=["final list"], responses={200: {"content": {"text/csv": {}}}})
    async def list_export(state: ServicesDep, staff: StaffDep, process: str, kind: ListKind,
                          entity: Annotated[str, PathParam(pattern=r"^\d{2}$", description="state code")],
                          modality: Modality | None = None) -> Response:
        """A list's export for one state (definitive: and one modality), as cut; its SHA-256 in
        the ``X-Content-SHA256`` header and the cut's in ``X-Cut-SHA256``. Personal data: every
        export is logged (who, which part)."""
        electoral_process = state.process(process)
        cut = await asyncio.to_thread(state.registry.list_cut, electoral_process.id, kind.value)
        if cut is None:
            raise HTTPException(404, f"list: the {kind.value} list has not been cut yet")
        part = next((p for p in cut.parts if p["state"] == entity
                     and p["modality"] == (modality.value if modality and kind is ListKind.DEFINITIVE else None)),
                    None)
        if part is None:
            raise HTTPException(404, "list: no such part (the definitive list is per state and modality)")
        content, _ = await asyncio.to_thread(lists.export, state.view, state.registry, electoral_process,
                                             kind.value, cut.position, entity, part["modality"])
        log.info("list exported", staff=staff.id, list=kind.value, state=entity, modality=part["modality"])
        return Response(content, media_type="text/csv; charset=utf-8", headers={
            "X-Content-SHA256": lists.digest(content), "X-Cut-SHA256": part["sha256"],
            "X-Log-Position": str(cut.position)})

    @app.post(f"{PREFIX}/processes/{{process}}/milestones/{{milestone}}", openapi_extra=roles(),
              tags=["administration"], responses={202: {"description": "still fanning out; ask again"}})
    async def fire_milestone(state: ServicesDep, staff: StaffDep, process: str, milestone: Milestone,
                             body: MilestoneBody) -> Response:
        """Fires a calendar milestone (early, or in replay mode). Answers with the fan-out's
        report, or 202 while it still runs (asking again is safe)."""
        command = FireMilestone(milestone=milestone, at=body.at, recorded_by=staff.id)
        firing = asyncio.ensure_future(state.journeys.fire_milestone(state.process(process).id, command))
        done, _ = await asyncio.wait({firing}, timeout=ANSWER_TIMEOUT)
        if not done:
            firing.add_done_callback(lambda f: f.cancelled() or f.exception())
            return JSONResponse({"milestone": milestone.value, "status": "firing"}, status_code=202)
        report = firing.result()
        log.info("milestone fired", staff=staff.id, milestone=milestone.value, process=process)
        return JSONResponse(report.model_dump(mode="json"))

    # -- the dashboard ---------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html")
