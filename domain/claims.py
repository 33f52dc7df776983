"""Who is working on a request's review: a reviewer's claim on an expediente.

One ``ReviewClaim`` per journey (its keyed id). A reviewer takes it; while the claim holds,
nobody else gets it; it ends with the holder's decision, when the holder or a supervisor
releases it, or when its time runs out (a later take finds it lapsed). Two reviewers taking it
at once both append the same version: the store keeps one, the other is told it is taken."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from lnere.domain.refusals import RefusalKind
from lnere.domain.rules import DomainError


class ClaimEnd:
    DECIDED = "decided"
    RELEASED = "released"
    RELEASED_BY_SUPERVISOR = "released_by_supervisor"


class ReviewClaim(Aggregate):
    @staticmethod
    def create_id(workflow_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"lnere:review-claim:{workflow_id}")

    class Opened(Aggregate.Created):
        process_id: str
        workflow_id: str

    @event(Opened)
    def __init__(self, process_id: str, workflow_id: str) -> None:
        self.process_id = process_id
        self.workflow_id = workflow_id
        self.holder: str | None = None
        self.until: datetime | None = None
        self.decisions: list[dict[str, Any]] = []  # who decided, when (the desk's own record)

    def held_by(self, at: datetime) -> str | None:
        """Who holds the claim at ``at`` (None: free, or lapsed)."""
        return self.holder if self.holder is not None and self.until is not None and at < self.until else None

    def take(self, reviewer: str, at: datetime, hold: timedelta) -> None:
        holder = self.held_by(at)
        if holder is not None and holder != reviewer:
            raise DomainError("journey", "claim-held", f"the expediente is being reviewed by {holder}",
                              RefusalKind.CONFLICT)
        self._taken(reviewer=reviewer, at=at, until=at + hold)

    class Taken(Aggregate.Event):
        reviewer: str
        at: datetime
        until: datetime

    @event(Taken)
    def _taken(self, reviewer: str, at: datetime, until: datetime) -> None:
        self.holder, self.until = reviewer, until

    def release(self, by: str, at: datetime, supervisor: bool = False) -> None:
        holder = self.held_by(at)
        if holder is None:
            raise DomainError("journey", "claim-free", "nobody holds the expediente", RefusalKind.CONFLICT)
        if holder != by and not supervisor:
            raise DomainError("journey", "claim-held", f"the expediente is being reviewed by {holder}",
                              RefusalKind.CONFLICT)
        self._ended(by=by, at=at, how=ClaimEnd.RELEASED if holder == by else ClaimEnd.RELEASED_BY_SUPERVISOR)

    def decided(self, by: str, at: datetime) -> None:
        """The holder's decision was recorded: the claim ends with it."""
        self._ended(by=by, at=at, how=ClaimEnd.DECIDED)

    class Ended(Aggregate.Event):
        by: str
        at: datetime
        how: str

    @event(Ended)
    def _ended(self, by: str, at: datetime, how: str) -> None:
        if how == ClaimEnd.DECIDED:
            self.decisions.append({"by": by, "at": at.isoformat()})
        self.holder, self.until = None, None


class ReviewerDay(Aggregate):
    """The decisions one reviewer took at the desk on one day (the process's calendar day): the
    supervisor's count per reviewer and day, written with the claim's end (one reviewer's own
    aggregate, so reviewers deciding at once never contend for it)."""

    @staticmethod
    def create_id(process_id: str, reviewer: str, day: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"lnere:reviewer-day:{process_id}:{reviewer}:{day}")

    class Opened(Aggregate.Created):
        process_id: str
        reviewer: str
        day: str

    @event(Opened)
    def __init__(self, process_id: str, reviewer: str, day: str) -> None:
        self.process_id, self.reviewer, self.day = process_id, reviewer, day
        self.decided: int = 0

    class Decided(Aggregate.Event):
        workflow_id: str
        at: datetime

    @event(Decided)
    def decision(self, workflow_id: str, at: datetime) -> None:
        self.decided += 1
