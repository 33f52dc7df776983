"""The progress reports as issued to the parties and the states' electoral bodies: the list,
each issue's renderings with their SHA-256, and the schedule (a supervisor pauses, resumes or
triggers it)."""

from __future__ import annotations

import asyncio
import hashlib
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import Response

from lnere import logs
from lnere.api.access import StaffDep, roles
from lnere.api.services import PREFIX, ServicesDep
from lnere.application import reports as schedules
from lnere.domain.process import ElectoralProcess
from lnere.domain.reports import RENDERINGS, Rendering
from lnere.domain.roles import Role
from lnere.projections.issued import render
from lnere.projections.report import REPORT_MEDIA_TYPES

log = logs.get_logger("lnere.api")
router = APIRouter()
READERS = (Role.PARTY, Role.OPL, Role.VIEWER)  # and supervisors (every route); an OPL gets its state's


class ScheduleAction(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    TRIGGER = "trigger"


def _scheduled(process: ElectoralProcess) -> ElectoralProcess:
    if process.report_schedule is None:
        raise HTTPException(404, f"report schedule: {process.id} has none")
    return process


@router.get(f"{PREFIX}/processes/{{process}}/reports", openapi_extra=roles(*READERS), tags=["reports"])
async def issued_reports(state: ServicesDep, staff: StaffDep, process: str) -> list[dict[str, Any]]:
    """The progress reports issued so far, in order: number, date, the day whose end they
    report, the log position they were frozen at, the SHA-256 of each rendering, how many
    figures changed since the previous issue (a state electoral body's member: the issues of
    their state's own report)."""
    electoral_process, own = state.process_and_state(process, staff, None)
    return [r.summary(own) for r in await asyncio.to_thread(state.registry.issued_reports, electoral_process)]


@router.get(f"{PREFIX}/processes/{{process}}/reports/{{number}}", openapi_extra=roles(*READERS), tags=["reports"],
            responses={200: {"content": {REPORT_MEDIA_TYPES[r]: {} for r in RENDERINGS}}})
async def issued_report(state: ServicesDep, staff: StaffDep, process: str,
                        number: Annotated[int, PathParam(ge=1, le=10_000)],
                        format: Rendering = Rendering.JSON) -> Response:
    """One issue as it was sent, in one rendering; its SHA-256 in ``X-Content-SHA256`` (the
    same as the list's); ``X-Log-Position``: where it was frozen."""
    electoral_process, own = state.process_and_state(process, staff, None)
    times = electoral_process.report_issue_times()
    if number > len(times):
        raise HTTPException(404, f"report: {electoral_process.id} has {len(times)} issues in its schedule")
    report = await asyncio.to_thread(state.registry.issued_report, electoral_process.id, times[number - 1])
    if report is None:
        raise HTTPException(404, f"report: issue {number} has not been issued yet")
    content = render(report.figures_for(own), format.value)
    digest = hashlib.sha256(content).hexdigest()
    log.info("progress report downloaded", staff=staff.id, process_id=electoral_process.id, number=number,
             rendering=format.value)
    return Response(content, media_type=REPORT_MEDIA_TYPES[format.value], headers={
        "X-Content-SHA256": digest, "X-Issued-SHA256": report.sha256_for(own)[format.value],
        "X-Log-Position": str(report.position),
        "Content-Disposition": f'attachment; filename="lnere-{electoral_process.id}-reporte-{number:02d}.'
                               f'{format.value}"'})


@router.get(f"{PREFIX}/processes/{{process}}/report-schedule", openapi_extra=roles(), tags=["reports"])
async def report_schedule(state: ServicesDep, process: str) -> dict[str, Any]:
    """The schedule: paused or not, its next and recent runs."""
    electoral_process = _scheduled(state.process(process))
    await schedules.ensure_report_schedule(state.journeys.client, electoral_process, state.settings.task_queue)
    return await schedules.schedule_state(state.journeys.client, electoral_process)


@router.post(f"{PREFIX}/processes/{{process}}/report-schedule/{{action}}", openapi_extra=roles(), tags=["reports"])
async def act_on_report_schedule(state: ServicesDep, staff: StaffDep, process: str,
                                 action: ScheduleAction) -> dict[str, Any]:
    """Pause or resume the schedule, or trigger a run now (it issues what is due, once)."""
    electoral_process = _scheduled(state.process(process))
    client = state.journeys.client
    await schedules.ensure_report_schedule(client, electoral_process, state.settings.task_queue)
    await schedules.act_on_schedule(client, electoral_process, action.value, note=f"{action.value} by {staff.id}")
    log.info("report schedule", staff=staff.id, process_id=electoral_process.id, action=action.value)
    return await schedules.schedule_state(client, electoral_process)
