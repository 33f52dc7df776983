"""The expediente over HTTP: documents uploaded (multipart, streamed, checked from their bytes,
sealed with the citizen's key), listed and downloaded by reviewers and supervisors — each look
recorded — and who read what, for a supervisor. A request or a subsane then names its documents
by the ids and digests their upload answered."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Form, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import Response

from lnere import logs
from lnere.api.access import StaffDep, roles
from lnere.api.services import PREFIX, JourneyId, ServicesDep, existing
from lnere.application.staff import Staff
from lnere.domain.commands import DocumentRef, StaffId
from lnere.domain.identity import journey_workflow_id
from lnere.domain.journey import Journey
from lnere.domain.process import ElectoralProcess
from lnere.domain.refusals import Refused
from lnere.domain.roles import Role
from lnere.domain.rules import DomainError
from lnere.domain.values import Clave

log = logs.get_logger("lnere.api")
router = APIRouter()

# The largest file a kind may take (20 MiB), and room for the form around it.
MAX_UPLOAD = 20 * 1024 * 1024 + 64 * 1024
UPLOAD_PATHS = re.compile(rf"{PREFIX}/(?:processes|journeys)/[^/]+/documents")
DOCUMENT_ID = PathParam(pattern=r"^[0-9a-f]{32}$", description="the document's id")
READERS = (Role.REVIEWER,)  # and supervisors: who judges an expediente


async def _add(state: Any, staff: Staff, process: ElectoralProcess, workflow_id: str, kind: str,
               file: UploadFile) -> DocumentRef:
    catalogue = process.documents.get(kind)
    # One byte past the kind's limit is enough to refuse it: the rest is never read.
    data = await file.read((catalogue.max_bytes if catalogue else 1024) + 1)
    try:
        ref = await asyncio.to_thread(state.documents.add, process, workflow_id, kind, file.filename or "",
                                      data, staff.id, datetime.now(UTC))
    except DomainError as error:
        raise Refused(error.refusal) from None
    log.info("document added", staff=staff.id, journey=workflow_id, document=ref.id, kind=kind)
    return ref


@router.post(f"{PREFIX}/processes/{{process}}/documents", openapi_extra=roles(Role.OPERATOR), tags=["documents"])
async def upload_for_citizen(state: ServicesDep, staff: StaffDep, process: str, clave: Annotated[Clave, Form()],
                             kind: Annotated[str, Form(max_length=60)], file: UploadFile) -> DocumentRef:
    """A document for a request not filed yet: the citizen named by clave (in the body, never
    the path). Answers the id and keyed digest a request then names."""
    found = state.process(process)
    return await _add(state, staff, found, journey_workflow_id(state.settings.journey_key_bytes, found.id, clave),
                      kind, file)


@router.post(f"{PREFIX}/journeys/{{journey}}/documents", openapi_extra=roles(Role.OPERATOR), tags=["documents"])
async def upload_for_journey(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                             kind: Annotated[str, Form(max_length=60)], file: UploadFile) -> DocumentRef:
    """A document for a journey that exists (a subsane's)."""
    process, _ = await existing(state, journey)
    return await _add(state, staff, process, journey, kind, file)


@router.get(f"{PREFIX}/journeys/{{journey}}/documents", openapi_extra=roles(*READERS), tags=["documents"])
async def list_documents(state: ServicesDep, staff: StaffDep, journey: JourneyId) -> dict[str, Any]:
    """The expediente: every document with its kind, type, size, name and the round it came
    in (the request's, then each subsane's), the request's and the latest subsane's side by
    side for a re-review, and what each decision was made on. The look is recorded."""
    _, status = await existing(state, journey)
    listed = await asyncio.to_thread(state.documents.documents, journey, staff.id, staff.role.value)
    recorded = await asyncio.to_thread(state.registry.journey, journey)
    rounds = {ref["id"]: ref["round"] for ref in (recorded.expediente if recorded is not None else [])}
    for document in listed:
        document["round"] = rounds.get(document["id"])  # None: uploaded, named by no command yet
    filed = [d for d in listed if d["round"] is not None]
    latest = max((d["round"] for d in filed), default=0)
    decisions = [{"at": e.at.isoformat(), "outcome": e.outcome, "reasons": e.reasons,
                  "documents_seen": getattr(e, "documents_seen", None) or [],
                  "concerning": getattr(e, "concerning", None) or {}}
                 for e in await asyncio.to_thread(state.registry.history, journey)
                 if isinstance(e, Journey.ReviewDecided)]
    log.info("expediente listed", staff=staff.id, journey=journey)
    return {"journey": journey, "stage": status.stage, "documents": listed,
            "side_by_side": {"request": [d for d in filed if d["round"] == 0],
                             "latest_subsane": [d for d in filed if latest and d["round"] == latest]},
            "decisions": decisions}


@router.get(f"{PREFIX}/journeys/{{journey}}/documents/{{document_id}}", openapi_extra=roles(*READERS),
            tags=["documents"],
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "application/pdf": {}}}})
async def download_document(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                            document_id: Annotated[str, DOCUMENT_ID]) -> Response:
    """One document's bytes, as kept (an image as encoded again); the read is recorded."""
    await existing(state, journey)
    try:
        document, data = await asyncio.to_thread(state.documents.read, journey, document_id, staff.id,
                                                 staff.role.value)
    except DomainError as error:
        raise Refused(error.refusal) from None
    log.info("document read", staff=staff.id, journey=journey, document=document_id)
    extension = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}[document["media_type"]]
    # Never the name the citizen's file came with: a name of lnere's own.
    return Response(data, media_type=document["media_type"], headers={
        "Content-Disposition": f'attachment; filename="{document["kind"].lower()}-{document_id[:8]}.{extension}"',
        "X-Document-Digest": document["digest"], "Cache-Control": "no-store"})


@router.get(f"{PREFIX}/journeys/{{journey}}/reads", openapi_extra=roles(), tags=["documents"])
async def reads_of_journey(state: ServicesDep, journey: JourneyId) -> list[dict[str, Any]]:
    """Who read this citizen's documents or personal data, and when (supervisors)."""
    await existing(state, journey)
    return await asyncio.to_thread(state.documents.reads_of_journey, journey)


@router.get(f"{PREFIX}/staff/{{staff_id}}/reads", openapi_extra=roles(), tags=["documents"])
async def reads_by_staff(state: ServicesDep, staff_id: Annotated[StaffId, PathParam()],
                         day: date) -> list[dict[str, Any]]:
    """What one staff member read on one day (UTC), journey by journey (supervisors)."""
    return await asyncio.to_thread(state.documents.reads_by_staff, staff_id,
                                   datetime.combine(day, time(12), UTC))
