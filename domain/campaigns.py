"""INETEL's outbound call campaigns as work (seed, section 4.3): a campaign is built from the
registry (CPVE holders with an activated credential and no request, of some states; or an
addendum of citizens named by clave) and split into call lists. An operator takes a list and
works it through the API: next citizen, the call's outcome (the seven of table 4.2.1). Each
citizen is on one list, so no one is called twice in a campaign — unless the outcome says the
citizen will be called back (back to the end of the list); a deceased citizen is never called
again. Lists hold journey ids only (keyed hashes): no personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from lnere.domain.commands import CallOutcome
from lnere.domain.refusals import RefusalKind
from lnere.domain.rules import DomainError

REACHED = frozenset({CallOutcome.REGISTERED, CallOutcome.INFORMED, CallOutcome.NO_INTENTION_TO_VOTE})
CALLED_AGAIN = frozenset({CallOutcome.WILL_CALL_BACK})


class Campaign(Aggregate):
    @staticmethod
    def create_id(process_id: str, code: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"lnere:campaign:{process_id}:{code}")

    class Built(Aggregate.Created):
        process_id: str
        code: str
        name: str
        source: dict[str, Any]
        built_at: datetime
        built_by: str
        lists: int
        citizens: int

    @event(Built)
    def __init__(self, process_id: str, code: str, name: str, source: dict[str, Any], built_at: datetime,
                 built_by: str, lists: int, citizens: int) -> None:
        self.process_id = process_id
        self.code = code
        self.name = name
        self.source = source  # how it was built: {"kind": "cpve_without_request", "states": [...]} or addendum
        self.built_at = built_at
        self.built_by = built_by
        self.lists = lists
        self.citizens = citizens

    def summary(self) -> dict[str, Any]:
        return {"campaign": self.code, "name": self.name, "source": self.source, "built_at": self.built_at.isoformat(),
                "built_by": self.built_by, "lists": self.lists, "citizens": self.citizens}


class CallList(Aggregate):
    """One call list of a campaign: its citizens in calling order, who works it, each call."""

    @staticmethod
    def create_id(process_id: str, campaign: str, number: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"lnere:call-list:{process_id}:{campaign}:{number}")

    class Made(Aggregate.Created):
        process_id: str
        timezone: str
        campaign: str
        number: int
        journeys: list[str]

    @event(Made)
    def __init__(self, process_id: str, timezone: str, campaign: str, number: int, journeys: list[str]) -> None:
        self.process_id = process_id
        self.timezone = timezone
        self.campaign = campaign
        self.number = number
        self.queue: list[str] = list(journeys)  # still to call, in order
        self.operator: str | None = None  # who works the list
        self.assigned: dict[str, str] = {}  # journey -> operator, a call in progress
        self.outcomes: dict[str, list[str]] = {j: [] for j in journeys}
        self.completed_calls: set[str] = set()  # the outreach command ids of the calls ended

    @property
    def pending(self) -> int:
        return len(self.queue)

    def take(self, operator: str, at: datetime) -> None:
        if self.operator is not None and self.operator != operator:
            raise DomainError("campaign", "call-list-taken", "another operator works this list",
                              RefusalKind.CONFLICT)
        if self.operator is None:
            self._taken(operator=operator, at=at)

    class Taken(Aggregate.Event):
        operator: str
        at: datetime

    @event(Taken)
    def _taken(self, operator: str, at: datetime) -> None:
        self.operator = operator

    def next_call(self, operator: str, at: datetime) -> str | None:
        """The operator's call in progress, or the next citizen to call (None: the list is done)."""
        self.take(operator, at)
        for journey, working in self.assigned.items():
            if working == operator:
                return journey
        if not self.queue:
            return None
        journey = self.queue[0]
        self._assigned(journey=journey, operator=operator, at=at)
        return journey

    class Assigned(Aggregate.Event):
        journey: str
        operator: str
        at: datetime

    @event(Assigned)
    def _assigned(self, journey: str, operator: str, at: datetime) -> None:
        self.queue.remove(journey)
        self.assigned[journey] = operator

    def check_outcome(self, journey: str, operator: str) -> None:
        """Refuses an outcome for a citizen this operator is not calling now."""
        if journey not in self.outcomes:
            raise DomainError("journey", "call-not-on-list", "this citizen is not on the operator's call list",
                              RefusalKind.NOT_FOUND)
        if self.assigned.get(journey) != operator:
            if self.outcomes[journey] and journey not in self.queue:
                raise DomainError("journey", "call-completed", "this call's outcome is recorded already",
                                  RefusalKind.CONFLICT)
            raise DomainError("journey", "call-not-assigned", "this citizen is not being called by this operator",
                              RefusalKind.CONFLICT)

    def call_id(self, journey: str) -> str:
        """The id of the call being made to this citizen: the same for every outcome sent for it
        (a double click, a retry, two outcomes at once), so only one is ever counted."""
        return f"call.{self.campaign}.{self.number}.{len(self.outcomes[journey]) + 1}"

    def complete(self, journey: str, operator: str, outcome: CallOutcome, at: datetime, call_command_id: str) -> None:
        self.check_outcome(journey, operator)
        self._completed(journey=journey, operator=operator, outcome=outcome.value, at=at,
                        call_command_id=call_command_id, process_id=self.process_id, timezone=self.timezone,
                        campaign=self.campaign, first_call=not self.outcomes[journey])

    class Completed(Aggregate.Event):
        journey: str
        operator: str
        outcome: str
        at: datetime
        call_command_id: str
        process_id: str
        timezone: str
        campaign: str
        first_call: bool  # the citizen's first call in the campaign (the figures count citizens called)

    @event(Completed)
    def _completed(self, journey: str, operator: str, outcome: str, at: datetime, call_command_id: str,
                   process_id: str, timezone: str, campaign: str, first_call: bool) -> None:
        del self.assigned[journey]
        self.outcomes[journey].append(outcome)
        self.completed_calls.add(call_command_id)
        if outcome in CALLED_AGAIN:
            self.queue.append(journey)  # called again at the end of the list

    def progress(self) -> dict[str, int]:
        called = [o for outcomes in self.outcomes.values() for o in outcomes]
        return {"citizens": len(self.outcomes), "calls": len(called),
                "called": sum(1 for outcomes in self.outcomes.values() if outcomes),
                "reached": sum(1 for outcomes in self.outcomes.values() if set(outcomes) & REACHED),
                "registered": sum(1 for outcomes in self.outcomes.values() if CallOutcome.REGISTERED in outcomes),
                "pending": len(self.queue), "in_progress": len(self.assigned)}
