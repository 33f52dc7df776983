"""The review desk's use cases: DERFE's reviewers work the inbox, take an expediente, read it
and decide; a supervisor watches the backlog and releases what is stuck.

A decision from the desk is the API's: the same ``decide_review`` command through the journey's
Update, the same event. The desk adds the claim (``domain.claims``): a reviewer decides only
what they hold, and the claim ends with the decision."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lnere.application.gateway import JourneyClient
from lnere.domain.commands import CommandEnvelope, DecideReview
from lnere.domain.identity import process_of
from lnere.domain.process import ElectoralProcess, Milestone
from lnere.domain.refusals import RefusalKind, Refused
from lnere.domain.roles import Role
from lnere.domain.rules import DomainError, JourneyStatus, Stage
from lnere.projections.journey_counts import INBOX_FILTERS, CountsView
from lnere.store.claims import ClaimRegistry
from lnere.store.documents import DocumentRegistry
from lnere.store.registry import JourneyRegistry, event_rows

# How far "take the next" looks down the inbox for a free expediente before saying there is none
# (pages of the inbox; twenty reviewers at once skip each other's claims within the first).
TAKE_PAGES = 20
PAGE = 50


@dataclass(frozen=True)
class InboxFilter:
    """What a reviewer narrows the inbox to: values of ``INBOX_FILTERS`` and the round."""

    values: dict[str, str] = field(default_factory=dict)
    re_review: bool | None = None

    def __post_init__(self) -> None:
        unknown = set(self.values) - set(INBOX_FILTERS)
        if unknown:
            raise ValueError(f"unknown inbox filters: {sorted(unknown)}")



@dataclass
class InboxPage:
    items: list[dict[str, Any]]
    next_after: tuple[str, str] | None
    total: int
    counts: dict[str, dict[str, int]]  # per filter (under the other filters), and per round
    analysis_deadline: datetime
    days_left: int


@dataclass
class Expediente:
    status: JourneyStatus
    holder: str | None
    personal_data: dict[str, Any] | None
    documents: list[dict[str, Any]]
    history: list[dict[str, Any]]


class ReviewDesk:
    """One method per use case of the desk."""

    def __init__(self, journeys: JourneyClient, registry: JourneyRegistry, documents: DocumentRegistry,
                 claims: ClaimRegistry, view: CountsView, hold: timedelta) -> None:
        self.journeys = journeys
        self.registry = registry
        self.documents = documents
        self.claims = claims
        self.view = view
        self.hold = hold

    # -- the inbox ------------------------------------------------------------------------------

    def inbox(self, process: ElectoralProcess, wanted: InboxFilter, after: tuple[str, str] | None, now: datetime,
              limit: int = PAGE) -> InboxPage:
        """A page of requests awaiting a decision in the order received (LGIPE art. 335), each
        with how long it has waited and who holds it; the counts of every filter."""
        rows = self.view.review_inbox(process.id, filters=wanted.values, re_review=wanted.re_review, after=after,
                                      limit=limit + 1)
        page = rows[:limit]
        holders = self.claims.holders([r["workflow_id"] for r in page], now)
        items = [{**row, "re_review": row["reviews"] > 1, "holder": holders.get(row["workflow_id"]),
                  "waited": now - datetime.fromisoformat(row["in_review_since"])} for row in page]
        counts = self.view.inbox_counts(process.id, wanted.values, wanted.re_review)
        total = counts.pop("total").get("", 0)
        deadline = process.milestone_at(Milestone.ANALYSIS_DEADLINE)
        return InboxPage(
            items=items,
            next_after=(page[-1]["in_review_since"], page[-1]["journey_id"]) if len(rows) > limit else None,
            total=total, counts=counts, analysis_deadline=deadline,
            days_left=(deadline.date() - now.astimezone(deadline.tzinfo).date()).days,
        )

    def backlog(self, process: ElectoralProcess, reviewers: list[str], now: datetime) -> dict[str, Any]:
        """The supervisor's view: the backlog by state and round, the oldest waiting, the
        decisions taken at the desk per reviewer and day, and whether the backlog clears before
        the analysis deadline at the pace of the last seven days."""
        by_state, oldest = self.view.review_backlog(process.id)
        today = now.astimezone(process.tz).date()
        week = [(today - timedelta(days=n)).isoformat() for n in range(7)]
        decisions = self.claims.decisions_per_day(process.id, reviewers, week)
        recent = sum(decisions.values())
        pending = sum(row["first"] + row["re_review"] for row in by_state.values())
        deadline = process.milestone_at(Milestone.ANALYSIS_DEADLINE)
        days_left = max((deadline - now).total_seconds() / 86400, 0.0)
        per_day = recent / 7
        return {"by_state": by_state, "pending": pending,
                "oldest": datetime.fromisoformat(oldest) if oldest else None,
                "decisions": decisions, "per_day": per_day, "deadline": deadline,
                "days_needed": pending / per_day if per_day else None,
                "clears": pending == 0 or (per_day > 0 and pending / per_day <= days_left)}

    # -- claims -------------------------------------------------------------------------------

    def take_next(self, process: ElectoralProcess, reviewer: str, wanted: InboxFilter, now: datetime) -> str | None:
        """The first expediente of the (filtered) inbox, in the order received, that the reviewer
        holds already or nobody holds — now held by them; None when every one is held by others
        or none waits."""
        after = None
        for _ in range(TAKE_PAGES):
            rows = self.view.review_inbox(process.id, filters=wanted.values, re_review=wanted.re_review,
                                          after=after, limit=PAGE)
            if not rows:
                return None
            holders = self.claims.holders([r["workflow_id"] for r in rows], now)
            for row in rows:
                holder = holders.get(row["workflow_id"])
                if holder == reviewer:
                    return row["workflow_id"]
                if holder is None:
                    try:
                        self.take(row["workflow_id"], reviewer, now)
                    except DomainError:
                        continue  # another reviewer took it first, or it was decided since the view
                    return row["workflow_id"]
            after = (rows[-1]["in_review_since"], rows[-1]["journey_id"])
        return None

    def take(self, workflow_id: str, reviewer: str, now: datetime) -> None:
        """A chosen expediente, held by the reviewer; refused when another holds it or it no
        longer awaits a decision."""
        status = self.registry.status(workflow_id)
        if status is None:
            raise DomainError("journey", "journey-exists", "no such journey", RefusalKind.NOT_FOUND)
        if status.stage != Stage.IN_REVIEW:
            raise DomainError("journey", "awaits-decision", "the request no longer awaits a decision",
                              RefusalKind.CONFLICT)
        self.claims.take(workflow_id, reviewer, now, self.hold)

    def release(self, workflow_id: str, staff: str, role: Role, now: datetime) -> None:
        self.claims.release(workflow_id, staff, now, supervisor=role is Role.SUPERVISOR)

    def holder(self, workflow_id: str, now: datetime) -> str | None:
        claim = self.claims.claim(workflow_id)
        return claim.held_by(now) if claim is not None else None

    # -- the expediente -------------------------------------------------------------------------

    def expediente(self, workflow_id: str, staff: str, role: Role, now: datetime) -> Expediente:
        """The request, the credential and the documents, for the reviewer who holds it (or a
        supervisor): every look at personal data and documents recorded."""
        status = self.registry.status(workflow_id)
        if status is None:
            raise DomainError("journey", "journey-exists", "no such journey", RefusalKind.NOT_FOUND)
        holder = self.holder(workflow_id, now)
        history = event_rows(self.registry.history(workflow_id))
        if holder != staff and role is not Role.SUPERVISOR:
            return Expediente(status, holder, None, [], history)
        data = self.registry.personal_data(workflow_id)
        self.documents.record_read(workflow_id, staff, role.value, "personal_data", None)
        documents = self.documents.documents(workflow_id, staff, role.value)
        return Expediente(status, holder, data, documents, history)

    def document(self, workflow_id: str, document_id: str, staff: str, role: Role,
                 now: datetime) -> tuple[dict[str, Any], bytes]:
        if self.holder(workflow_id, now) != staff and role is not Role.SUPERVISOR:
            raise DomainError("journey", "claim-missing", "take the expediente to read its documents",
                              RefusalKind.CONFLICT)
        return self.documents.read(workflow_id, document_id, staff, role.value)

    # -- the decision ---------------------------------------------------------------------------

    async def decide(self, workflow_id: str, reviewer: str, decision: DecideReview, now: datetime) -> JourneyStatus:
        """The reviewer's decision on the expediente they hold: the journey's own command (its
        rules refuse it with a typed refusal, and nothing is recorded); the claim ends with it."""
        if await asyncio.to_thread(self.holder, workflow_id, now) != reviewer:
            raise Refused(DomainError("journey", "claim-missing", "take the expediente before deciding it",
                                      RefusalKind.CONFLICT).refusal)
        status = await self.journeys.send(CommandEnvelope(process=process_of(workflow_id), journey=workflow_id,
                                                          command=decision))
        process = self.journeys.processes.get(process_of(workflow_id))
        await asyncio.to_thread(self.claims.decided, workflow_id, reviewer, now,
                                now.astimezone(process.tz).date().isoformat())
        return status
