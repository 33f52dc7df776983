"""The lists of the final stage, as cut at their milestones: the LNERE para Revisión (at
``list_for_review_issued``) and the LNERE Definitiva (at ``definitive_list``).

A cut records the event-log position it was taken at and, for each part (a state; for the
definitive list, a state × modality), how many citizens it holds and the SHA-256 of its export.
The export can be made again at any time from that position and checked against the hash.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class ListKind(StrEnum):
    REVIEW = "review"  # the LNERE para Revisión, cut at list_for_review_issued
    DEFINITIVE = "definitive"  # the LNERE Definitiva, cut at definitive_list


class ListCut(Aggregate):
    @staticmethod
    def create_id(process_id: str, kind: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"lnere:list:{process_id}:{kind}")

    class Cut(Aggregate.Created):
        process_id: str
        kind: str
        at: datetime
        position: int
        parts: list[dict[str, Any]]

    @event(Cut)
    def __init__(self, process_id: str, kind: str, at: datetime, position: int, parts: list[dict[str, Any]]) -> None:
        self.process_id = process_id
        self.kind = kind
        self.at = at
        self.position = position
        self.parts = parts  # [{"state", "modality" (definitive only), "citizens", "sha256"}]

    def summary(self, state: str | None = None) -> dict[str, Any]:
        """The cut as shown; with ``state``, that state's parts alone (what its electoral body sees)."""
        parts = [p for p in self.parts if state is None or p["state"] == state]
        return {"process": self.process_id, "kind": self.kind, "at": self.at.isoformat(), "position": self.position,
                "citizens": sum(p["citizens"] for p in parts), "parts": parts}
