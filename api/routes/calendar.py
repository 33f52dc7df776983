"""The process calendar: firing a milestone."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from lnere import logs
from lnere.api.access import StaffDep, roles
from lnere.api.models import MilestoneBody
from lnere.api.services import ANSWER_TIMEOUT, PREFIX, ServicesDep
from lnere.domain.commands import FireMilestone
from lnere.domain.process import Milestone

log = logs.get_logger("lnere.api")
router = APIRouter()


@router.post(f"{PREFIX}/processes/{{process}}/milestones/{{milestone}}", openapi_extra=roles(),
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

