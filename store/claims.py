"""The review desk's claims: one eventsourcing application of their own (their own table or
file), so a reviewer taking work never contends with the journeys' writes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, PersistenceError
from psycopg import DatabaseError

from lnere.domain.claims import ReviewClaim, ReviewerDay
from lnere.domain.identity import process_of
from lnere.domain.refusals import RefusalKind
from lnere.domain.rules import DomainError
from lnere.settings import Settings
from lnere.store.events import select_events_of
from lnere.store.registry import find

TABLE_RACE_TRIES = 5


class ClaimRegistry(Application[UUID]):
    name = "review_claims"

    def __init__(self, env: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(env=env, **kwargs)

    def claim(self, workflow_id: str) -> ReviewClaim | None:
        return find(self, ReviewClaim.create_id(workflow_id))

    def take(self, workflow_id: str, reviewer: str, at: datetime, hold: timedelta) -> ReviewClaim:
        """The reviewer's claim, taken now; refused (claim-held) when another holds it, also
        when another took it in the same instant (the store keeps one of two equal versions)."""
        claim = self.claim(workflow_id) or ReviewClaim(process_id=process_of(workflow_id), workflow_id=workflow_id)
        claim.take(reviewer, at, hold)
        self._save(claim)
        return claim

    def release(self, workflow_id: str, by: str, at: datetime, supervisor: bool = False) -> None:
        claim = self.claim(workflow_id)
        if claim is None:
            raise DomainError("journey", "claim-free", "nobody holds the expediente", RefusalKind.CONFLICT)
        claim.release(by, at, supervisor)
        self._save(claim)

    def decided(self, workflow_id: str, by: str, at: datetime, day: str) -> None:
        """A decision was recorded on the journey: the claim ends with it, and the reviewer's
        count of the day (the process's calendar ``day``) grows, in one transaction. Once: a
        repeat finds the claim ended."""
        claim = self.claim(workflow_id)
        if claim is None or claim.holder is None:
            return
        claim.decided(by, at)
        reviewer_day = find(self, ReviewerDay.create_id(claim.process_id, by, day)) or ReviewerDay(
            process_id=claim.process_id, reviewer=by, day=day)
        reviewer_day.decision(workflow_id, at)
        self.save(claim, reviewer_day)

    def decisions_per_day(self, process_id: str, reviewers: list[str], days: list[str]) -> dict[tuple[str, str], int]:
        """{(reviewer, day): decisions taken at the desk}, for these reviewers and days."""
        found = {}
        for reviewer in reviewers:
            for day in days:
                reviewer_day = find(self, ReviewerDay.create_id(process_id, reviewer, day))
                if reviewer_day is not None and reviewer_day.decided:
                    found[(reviewer, day)] = reviewer_day.decided
        return found

    def holders(self, workflow_ids: list[str], at: datetime) -> dict[str, str]:
        """Who holds each of these journeys' claims at ``at`` (the free ones left out), read in
        one query."""
        ids = {ReviewClaim.create_id(w): w for w in workflow_ids}
        stored = select_events_of(self.recorder, list(ids))
        by_id: dict[Any, list[Any]] = {}
        for record in stored:
            by_id.setdefault(record.originator_id, []).append(self.mapper.to_domain_event(record))
        holders = {}
        for claim_id, events in by_id.items():
            claim = None
            for domain_event in events:
                claim = domain_event.mutate(claim)
            if claim is not None and (holder := claim.held_by(at)) is not None:
                holders[ids[claim_id]] = holder
        return holders

    def _save(self, claim: ReviewClaim) -> None:
        try:
            self.save(claim)
        except IntegrityError:
            raise DomainError("journey", "claim-held", "another reviewer took the expediente first",
                              RefusalKind.CONFLICT) from None


def open_claims(settings: Settings) -> ClaimRegistry:
    """The claims of an installation; on PostgreSQL, components starting at once may race to
    make the table, so the loser tries again."""
    for attempt in range(1, TABLE_RACE_TRIES + 1):
        try:
            return ClaimRegistry(settings.side_store_env("review_claims"))
        except (PersistenceError, DatabaseError):
            if attempt == TABLE_RACE_TRIES:
                raise
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")
