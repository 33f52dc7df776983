"""The progress reports INE issues to the parties and the states' electoral bodies (OPL) on
its schedule (``ElectoralProcess.report_schedule``): each issue is an immutable record of what
was sent — the report's figures as of the day before the issue, frozen at an event-log position,
with the SHA-256 of each rendering (JSON, CSV, Markdown) and what changed since the previous
issue. Recomputing the report at that position gives the same bytes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class Rendering(StrEnum):
    """What of an issue is hashed and downloadable."""

    JSON = "json"
    CSV = "csv"
    MD = "md"


RENDERINGS = tuple(r.value for r in Rendering)


class IssuedReport(Aggregate):
    @staticmethod
    def create_id(process_id: str, scheduled_for: datetime) -> UUID:
        return uuid5(NAMESPACE_URL, f"lnere:report:{process_id}:{scheduled_for.isoformat()}")

    class Issued(Aggregate.Created):
        process_id: str
        number: int
        scheduled_for: datetime
        as_of: str
        position: int
        figures: dict[str, Any]
        sha256: dict[str, str]
        changes: list[dict[str, Any]]
        state_figures: dict[str, dict[str, Any]]
        state_sha256: dict[str, dict[str, str]]

    @event(Issued)
    def __init__(self, process_id: str, number: int, scheduled_for: datetime, as_of: str, position: int,
                 figures: dict[str, Any], sha256: dict[str, str], changes: list[dict[str, Any]],
                 state_figures: dict[str, dict[str, Any]], state_sha256: dict[str, dict[str, str]]) -> None:
        self.process_id = process_id
        self.number = number  # its place in the schedule, from 1
        self.scheduled_for = scheduled_for  # the date and time (the process's local time)
        self.as_of = as_of  # the business day whose end the figures report (ISO date)
        self.position = position  # the event-log position the figures were taken at
        self.figures = figures  # the report, as build_report gave it
        self.sha256 = sha256  # rendering -> SHA-256 of its bytes
        self.changes = changes  # [{table, row, column, before, after}] since the previous issue
        # Each state's own report, as its electoral body receives it (the same position), and its hashes.
        self.state_figures = state_figures
        self.state_sha256 = state_sha256

    def summary(self, state: str | None = None) -> dict[str, Any]:
        """What the list of issues shows; with ``state``, as that state's electoral body gets it."""
        return {"process": self.process_id, "number": self.number, "scheduled_for": self.scheduled_for.isoformat(),
                "issued_at": self.created_on.isoformat(), "as_of": self.as_of, "position": self.position,
                **({"state": state, "sha256": self.state_sha256[state]} if state else
                   {"sha256": self.sha256, "changes": len(self.changes)})}

    def figures_for(self, state: str | None = None) -> dict[str, Any]:
        return self.figures if state is None else self.state_figures[state]

    def sha256_for(self, state: str | None = None) -> dict[str, str]:
        return self.sha256 if state is None else self.state_sha256[state]
