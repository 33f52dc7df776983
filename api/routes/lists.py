"""The final lists: cuts, departures, a party's export."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import Response

from lnere import logs
from lnere.api.access import ANY_ROLE, StaffDep, roles
from lnere.api.services import PREFIX, ServicesDep
from lnere.domain.lists import ListKind
from lnere.domain.process import Modality
from lnere.domain.roles import Role
from lnere.projections import lists

log = logs.get_logger("lnere.api")
router = APIRouter()


@router.get(f"{PREFIX}/processes/{{process}}/lists", openapi_extra=roles(*ANY_ROLE), tags=["final list"])
async def list_cuts(state: ServicesDep, staff: StaffDep, process: str) -> list[dict[str, Any]]:
    """The lists cut so far: position, and per part its size and export hash (a state
    electoral body's member: their state's parts only)."""
    electoral_process, own = state.process_and_state(process, staff, None)
    cuts = [await asyncio.to_thread(state.registry.list_cut, electoral_process.id, k)
            for k in ListKind]
    return [cut.summary(own) for cut in cuts if cut is not None]


@router.get(f"{PREFIX}/processes/{{process}}/lists/departures", openapi_extra=roles(Role.REVIEWER),
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


@router.get(f"{PREFIX}/processes/{{process}}/lists/{{kind}}/{{entity}}", openapi_extra=roles(Role.PARTY, Role.OPL),
            tags=["final list"], responses={200: {"content": {"text/csv": {}}}})
async def list_export(state: ServicesDep, staff: StaffDep, process: str, kind: ListKind,
                      entity: Annotated[str, PathParam(pattern=r"^\d{2}$", description="state code")],
                      modality: Modality | None = None) -> Response:
    """A list's export for one state (definitive: and one modality), as cut; its SHA-256 in
    the ``X-Content-SHA256`` header and the cut's in ``X-Cut-SHA256``. Personal data: every
    export is logged (who, which part). A state electoral body's member: their state's only."""
    electoral_process, _ = state.process_and_state(process, staff, entity)
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

