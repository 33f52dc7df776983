"""The review inbox."""

from __future__ import annotations

import asyncio
import base64
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError

from lnere import logs
from lnere.api.access import roles
from lnere.api.models import InboxItem, InboxPage
from lnere.api.services import PREFIX, ServicesDep
from lnere.domain.process import Channel, Modality
from lnere.domain.roles import Role

log = logs.get_logger("lnere.api")
router = APIRouter()


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


# -- review inbox -----------------------------------------------------------------------------

@router.get(f"{PREFIX}/processes/{{process}}/review-inbox", response_model=InboxPage,
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

