"""The application of a fired milestone to the journeys it concerns, as an aggregate.

Each page of journeys the milestone changed is recorded in the same transaction as the page's
own events, so where the run stands (pass, cursor, journeys seen and changed) is exactly what
the event store holds: a run resumed after any failure, a kill -9 included, neither skips nor
counts twice, and two attempts running at once conflict on this aggregate's version.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class MilestoneRun(Aggregate):
    @staticmethod
    def create_id(process_id: str, milestone: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"lnere:milestone-run:{process_id}:{milestone}")

    class Started(Aggregate.Created):
        process_id: str
        milestone: str
        at: datetime

    @event(Started)
    def __init__(self, process_id: str, milestone: str, at: datetime) -> None:
        self.process_id = process_id
        self.milestone = milestone
        self.at = at
        self.sweep = 0  # a pass over the journeys in the milestone's stages
        self.cursor = ""  # the last journey id of the last page applied in this pass
        self.changed_in_sweep = 0
        self.journeys_seen = 0
        self.journeys_changed = 0
        self.completed = False

    class PageApplied(Aggregate.Event):
        cursor: str
        seen: int
        changed: int

    @event(PageApplied)
    def page_applied(self, cursor: str, seen: int, changed: int) -> None:
        self.cursor = cursor
        self.journeys_seen += seen
        self.journeys_changed += changed
        self.changed_in_sweep += changed

    class PassEnded(Aggregate.Event):
        pass

    @event(PassEnded)
    def pass_ended(self) -> None:
        """A pass ended; another starts from the first journey (the last one changed nothing)."""
        self.sweep += 1
        self.cursor = ""
        self.changed_in_sweep = 0

    class Completed(Aggregate.Event):
        pass

    @event(Completed)
    def complete(self) -> None:
        self.completed = True
