"""A request's expediente: the documents a reviewer judges, and who read them.

One ``Expediente`` per citizen's journey (its keyed id, never the clave): each document added
(its kind, type, size, keyed digest; its file name sealed with the citizen's key; the bytes
sealed in the document store) and each read of a document or of the citizen's personal data
(who, with which role, when). ``StaffReads`` holds the same reads by staff member and day, so a
supervisor lists what one person read without scanning every journey."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class Expediente(Aggregate):
    @staticmethod
    def create_id(workflow_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"lnere:expediente:{workflow_id}")

    class Opened(Aggregate.Created):
        process_id: str
        workflow_id: str

    @event(Opened)
    def __init__(self, process_id: str, workflow_id: str) -> None:
        self.process_id = process_id
        self.workflow_id = workflow_id
        self.documents: dict[str, dict[str, Any]] = {}  # id -> what is known of it (no personal data)
        self.reads: list[dict[str, Any]] = []

    class DocumentAdded(Aggregate.Event):
        document_id: str
        kind: str
        media_type: str
        size: int
        pages: int
        digest: str
        name_sealed: str  # the file's name as sent: personal data, sealed
        at: datetime
        added_by: str | None

    @event(DocumentAdded)
    def add(self, document_id: str, kind: str, media_type: str, size: int, pages: int, digest: str,
            name_sealed: str, at: datetime, added_by: str | None) -> None:
        self.documents[document_id] = {"id": document_id, "kind": kind, "media_type": media_type, "size": size,
                                       "pages": pages, "digest": digest, "added_at": at.isoformat(),
                                       "added_by": added_by, "name_sealed": name_sealed}

    class Read(Aggregate.Event):
        staff: str
        role: str
        at: datetime
        what: str  # "document", "documents" (the list), "personal_data"
        document_id: str | None

    @event(Read)
    def read(self, staff: str, role: str, at: datetime, what: str, document_id: str | None) -> None:
        self.reads.append({"staff": staff, "role": role, "at": at.isoformat(), "what": what,
                           "document": document_id})


class StaffReads(Aggregate):
    """What one staff member read on one day (UTC)."""

    @staticmethod
    def create_id(staff: str, day: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"lnere:staff-reads:{staff}:{day}")

    class Opened(Aggregate.Created):
        staff: str
        day: str  # ISO date

    @event(Opened)
    def __init__(self, staff: str, day: str) -> None:
        self.staff = staff
        self.day = day
        self.reads: list[dict[str, Any]] = []

    class Read(Aggregate.Event):
        journey: str
        role: str
        at: datetime
        what: str
        document_id: str | None

    @event(Read)
    def read(self, journey: str, role: str, at: datetime, what: str, document_id: str | None) -> None:
        self.reads.append({"journey": journey, "role": role, "at": at.isoformat(), "what": what,
                           "document": document_id})
