"""Who am I, the processes, the configuration, figures, reports, health, the dashboard."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, JSONResponse, Response

from lnere import logs
from lnere.api.access import ANY_ROLE, MaybeStaffDep, StaffDep, roles
from lnere.api.models import Me
from lnere.api.services import MAX_WAIT, PREFIX, ServicesDep
from lnere.projections.report import REPORT_MEDIA_TYPES, build_report, render_report
from lnere.settings import Settings

log = logs.get_logger("lnere.api")
STATIC = Path(__file__).parent.parent / "static"
router = APIRouter()


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"  # for programs: English keys, codes
    EXCEL = "excel"  # CSV for spreadsheets: byte-order mark, INE's words, Spanish dates
    MD = "md"


# How a process's timezone is said in its reports' cut-off ("hora del centro").
ZONE_WORDS = {"America/Mexico_City": "hora del centro"}


# -- who am I, processes, configuration ---------------------------------------------------

@router.get(f"{PREFIX}/me", response_model=Me, response_model_exclude_none=True, openapi_extra=roles(*ANY_ROLE),
            tags=["access"])
async def me(staff: StaffDep) -> Me:
    return Me(staff=staff.id, role=staff.role.value, **({"state": staff.state} if staff.state else {}))


@router.get(f"{PREFIX}/processes", openapi_extra=roles(*ANY_ROLE, published=True), tags=["figures"])
async def list_processes(state: ServicesDep) -> list[dict[str, Any]]:
    """The processes; ``default`` marks the one the dashboard opens on: the configured process
    (``LNERE_PROCESS``) when one was set, else the one holding the most journeys."""
    default = await asyncio.to_thread(state.default_process)
    return [
        {"id": p.id, "name": p.name, "default": p.id == default, "timezone": p.timezone,
         "zone_words": ZONE_WORDS.get(p.timezone, p.timezone),
         # The business days its figures can be asked as of: from registration to election day.
         "first_day": p.localize(p.registration_opens).date().isoformat(), "last_day": p.election_day.isoformat(),
         "states": [{"code": s.code, "name": s.name} for s in p.states],
         "channels": [c.value for c in p.channels], "modalities": [m.value for m in p.modalities]}
        for p in state.processes
    ]


@router.get(f"{PREFIX}/configuration", openapi_extra=roles(), tags=["administration"])
async def configuration(state: ServicesDep) -> dict[str, Any]:
    secret = {name for name, field in Settings.model_fields.items() if not field.repr}
    return {
        "settings": state.settings.model_dump(mode="json", exclude=secret),
        "processes": [p.model_dump(mode="json") for p in state.processes],
    }


# -- figures and reports --------------------------------------------------------------------

@router.get(f"{PREFIX}/processes/{{process}}/figures", openapi_extra=roles(*ANY_ROLE, published=True),
            tags=["figures"])
async def figures(
    state: ServicesDep,
    staff: MaybeStaffDep,
    process: str,
    as_of: Annotated[date | None, Query(description="business day; omit for everything recorded (live)")] = None,
    after: Annotated[int | None, Query(ge=0, description="answer once the figures pass this log position")] = None,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT, description="seconds to wait for that")] = 20.0,
    state_code: Annotated[str | None, Query(alias="state", pattern=r"^\d{2}$",
                                            description="one state's own figures (INEGI code)")] = None,
) -> Response:
    """Live counts: the report's tables, the sex × age pyramid and requests per day, with the
    event-log position they reflect and the log's head. With ``after``, a long poll. A state
    electoral body's member gets their state's own figures only."""
    electoral_process, scope = state.process_and_state(process, staff, state_code)
    if after is not None:
        await state.watcher.wait_beyond(after, wait)
    body, head = await asyncio.to_thread(state.figures_json, electoral_process, as_of, scope)
    projection = await asyncio.to_thread(state.projection_state)
    prefix = b'{"log_head":%d,"projection":%s,' % (head, json.dumps(projection).encode())
    return Response(content=prefix + body[1:], media_type="application/json")


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """Liveness: the API answers."""
    return {"component": "api", "status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(state: ServicesDep) -> JSONResponse:
    """Readiness, with the reasons when not: Temporal does not answer (commands cannot be
    taken), the projection is halted (figures are those of its last good position) or behind
    the event log by more than ``LNERE_READY_MAX_LAG`` events."""
    projection = await asyncio.to_thread(state.projection_state)
    head = await asyncio.to_thread(state.registry.head)
    lag = max(head - state.view.position(), 0)
    reasons = []
    if not await state.journeys.engine_answers():
        reasons.append(f"Temporal at {state.settings.temporal_address} does not answer")
    if projection["halted"]:
        halt = projection["halt"]
        reasons.append(f"the projection is halted before event {halt['position']} ({halt['topic']})")
    if lag > state.settings.ready_max_lag:
        reasons.append(f"the projection is behind the event log by {lag:,} events")
    status = "halted" if projection["halted"] else "not ready" if reasons else "ready"
    # Files of the process folders that are not served: named, but no reason to stop serving.
    skipped = [{"file": Path(path).name, "reason": reason.removeprefix(f"{path}: ")}
               for path, reason in state.processes.skipped.items()]
    return JSONResponse({"component": "api", "status": status, "ready": not reasons, "reasons": reasons,
                         "log_head": head, "lag_events": lag, "projection": projection,
                         "process_files_skipped": skipped},
                        status_code=503 if reasons else 200)


@router.get("/metrics", include_in_schema=False)
async def metrics_text() -> Response:
    """The API's metrics (Prometheus text): latency by route, refusals by rule."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get(f"{PREFIX}/processes/{{process}}/report", openapi_extra=roles(*ANY_ROLE, published=True),
            tags=["figures"],
            responses={200: {"content": {"text/csv": {}, "text/markdown": {}}}})
async def report(
    state: ServicesDep,
    staff: MaybeStaffDep,
    process: str,
    as_of: Annotated[date | None, Query(description="business day; omit for everything recorded")] = None,
    format: ReportFormat = ReportFormat.JSON,
    state_code: Annotated[str | None, Query(alias="state", pattern=r"^\d{2}$",
                                            description="one state's own report (INEGI code)")] = None,
) -> Response:
    """Report section 4.1 as of a business day (with ``state``: that state's own; a state
    electoral body's member gets their state's only)."""
    electoral_process, scope = state.process_and_state(process, staff, state_code)
    figures = await asyncio.to_thread(build_report, state.view, electoral_process, as_of, scope)
    headers = {}
    if format is ReportFormat.EXCEL:  # a file for a spreadsheet, saved by the browser
        name = f"lnere-{process}-{as_of.isoformat() if as_of else 'todo'}.csv"
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return Response(render_report(figures, format.value), media_type=REPORT_MEDIA_TYPES[format.value],
                    headers=headers)


# -- the dashboard ---------------------------------------------------------------------------

@router.get("/", include_in_schema=False)
async def dashboard() -> FileResponse:
    return FileResponse(STATIC / "index.html")


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> FileResponse:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")
