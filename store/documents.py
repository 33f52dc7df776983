"""The documents' application: the use cases of a request's expediente — add a document (checked,
sealed with the citizen's key, kept in the document store), list and read them (every read
recorded), verify the documents a command names, and list who read what.

An eventsourcing application of its own (``Expediente`` and ``StaffReads`` aggregates) beside
the journey registry: its events in their own table, the citizens' keys the journeys' own, so
erasing a citizen (``JourneyRegistry``) shreds their documents with their personal data."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, PersistenceError
from psycopg import DatabaseError

from lnere.domain.commands import DocumentRef
from lnere.domain.document_files import CleanFile, inspect
from lnere.domain.documents import Expediente, StaffReads
from lnere.domain.identity import journey_uuid, process_of
from lnere.domain.process import ElectoralProcess
from lnere.domain.refusals import RefusalKind
from lnere.domain.rules import DomainError
from lnere.domain.vault import CitizenVault
from lnere.settings import Settings
from lnere.store.blobs import BlobStore, FileBlobStore, S3BlobStore, blob_key
from lnere.store.registry import find, key_store

RETRIES = 20  # two writers on one expediente at once: the second reads it again
TABLE_RACE_TRIES = 5


class DocumentRegistry(Application[UUID]):
    name = "documents"

    def __init__(self, env: Mapping[str, str], keys_env: Mapping[str, str], blobs: BlobStore, **kwargs: Any) -> None:
        super().__init__(env=env, **kwargs)
        master = self.env.get("CIPHER_KEY")
        if not master:
            raise ValueError("CIPHER_KEY: the document registry needs a cipher key")
        self.vault = CitizenVault(key_store(keys_env), base64.b64decode(master))
        self.blobs = blobs

    def close(self) -> None:
        self.vault.close()
        self.blobs.close()
        super().close()

    # -- adding ------------------------------------------------------------------------------

    def add(self, process: ElectoralProcess, workflow_id: str, kind: str, name: str, data: bytes,
            added_by: str | None, at: datetime, document_id: str | None = None) -> DocumentRef:
        """Checks a file (``domain.document_files``), seals it with the citizen's key and keeps
        it; refused naming the rule with nothing stored. A ``document_id`` of the caller's (a
        file named by a command file) makes it idempotent: added again, the first is answered."""
        if process_of(workflow_id) != process.id:
            raise DomainError("journey", "journey-process", f"journey {workflow_id} is not of process {process.id}")
        clean = self.check(process, kind, name, data)
        citizen = str(journey_uuid(workflow_id))
        if document_id is not None:
            earlier = self._uploaded(workflow_id).get(document_id)
            if earlier is not None and earlier["kind"] == kind:
                return DocumentRef(id=document_id, kind=kind, digest=earlier["digest"])
        document_id = document_id or uuid.uuid4().hex
        sealed = self.vault.seal_bytes(citizen, clean.data, document_id)
        self.blobs.put(blob_key(citizen, document_id), sealed)
        digest = self.vault.keyed_digest(citizen, clean.data)
        name_sealed = self.vault.seal(citizen, {"name": name})
        for _ in range(RETRIES):
            expediente = self._expediente(workflow_id) or Expediente(process_id=process.id, workflow_id=workflow_id)
            expediente.add(document_id=document_id, kind=kind, media_type=clean.media_type.value,
                           size=len(clean.data), pages=clean.pages, digest=digest, name_sealed=name_sealed, at=at,
                           added_by=added_by)
            try:
                self.save(expediente)
            except IntegrityError:
                continue
            return DocumentRef(id=document_id, kind=kind, digest=digest)
        raise DomainError("journey", "expediente-busy", "the expediente kept changing; send it again",
                          RefusalKind.UNAVAILABLE)

    def check(self, process: ElectoralProcess, kind: str, name: str, data: bytes) -> CleanFile:
        """The file as it would be kept, or the refusal naming the rule; nothing is stored."""
        catalogue = process.documents.get(kind)
        if catalogue is None:
            known = ", ".join(sorted(process.documents)) or "none"
            raise DomainError("kind", "document-kind", f"{kind} is not a document kind of {process.name} "
                                                       f"(known: {known})")
        return inspect(catalogue, name, data)

    def verify(self, workflow_id: str, refs: tuple[DocumentRef, ...] | None, field: str) -> None:
        """The documents a command names are this citizen's, as uploaded (id, kind, digest)."""
        if not refs:
            return
        uploaded = self._uploaded(workflow_id)
        for ref in refs:
            found = uploaded.get(ref.id)
            if found is None or found["kind"] != ref.kind or found["digest"] != ref.digest:
                raise DomainError(field, "document-unknown",
                                  f"document {ref.id} was not uploaded for this citizen as {ref.kind}")

    # -- reading (each read recorded) -------------------------------------------------------

    def documents(self, workflow_id: str, staff: str, role: str) -> list[dict[str, Any]]:
        """The expediente's documents (with their names), the look recorded."""
        expediente = self._expediente(workflow_id)
        if expediente is None:
            return []
        citizen = str(journey_uuid(workflow_id))
        listed = []
        for document in expediente.documents.values():
            name = self.vault.open(citizen, document["name_sealed"])
            listed.append({k: v for k, v in document.items() if k != "name_sealed"} |
                          {"name": name["name"] if name else None, "erased": name is None})
        self.record_read(workflow_id, staff, role, "documents", None)
        return listed

    def read(self, workflow_id: str, document_id: str, staff: str, role: str) -> tuple[dict[str, Any], bytes]:
        """One document's bytes (refused once the citizen's data are erased), the read recorded."""
        expediente = self._expediente(workflow_id)
        document = expediente.documents.get(document_id) if expediente is not None else None
        if document is None:
            raise DomainError("document", "document-exists", "no such document of this journey",
                              RefusalKind.NOT_FOUND)
        citizen = str(journey_uuid(workflow_id))
        sealed = self.blobs.get(blob_key(citizen, document_id))
        data = self.vault.open_bytes(citizen, sealed, document_id) if sealed is not None else None
        if data is None:
            raise DomainError("document", "personal-data-erased", "the citizen's personal data and documents "
                                                                  "were erased", RefusalKind.CONFLICT)
        self.record_read(workflow_id, staff, role, "document", document_id)
        return {k: v for k, v in document.items() if k != "name_sealed"}, data

    def record_read(self, workflow_id: str, staff: str, role: str, what: str, document_id: str | None,
                    at: datetime | None = None) -> None:
        """Records a read of a citizen's documents or personal data: by journey and by staff
        member, in one transaction."""
        at = at or datetime.now(UTC)
        for _ in range(RETRIES):
            expediente = self._expediente(workflow_id) or Expediente(process_id=process_of(workflow_id),
                                                                     workflow_id=workflow_id)
            day = find(self, StaffReads.create_id(staff, at.date().isoformat())) or StaffReads(
                staff=staff, day=at.date().isoformat())
            expediente.read(staff=staff, role=role, at=at, what=what, document_id=document_id)
            day.read(journey=workflow_id, role=role, at=at, what=what, document_id=document_id)
            try:
                self.save(expediente, day)
                return
            except IntegrityError:
                continue
        raise DomainError("journey", "expediente-busy", "the read could not be recorded; ask again",
                          RefusalKind.UNAVAILABLE)

    def reads_of_journey(self, workflow_id: str) -> list[dict[str, Any]]:
        expediente = self._expediente(workflow_id)
        return list(expediente.reads) if expediente is not None else []

    def reads_by_staff(self, staff: str, day: datetime) -> list[dict[str, Any]]:
        found: StaffReads | None = find(self, StaffReads.create_id(staff, day.date().isoformat()))
        return list(found.reads) if found is not None else []

    def _expediente(self, workflow_id: str) -> Expediente | None:
        return find(self, Expediente.create_id(workflow_id))

    def _uploaded(self, workflow_id: str) -> dict[str, dict[str, Any]]:
        """The citizen's documents by id ({} before any)."""
        expediente = self._expediente(workflow_id)
        return expediente.documents if expediente is not None else {}


def open_documents(settings: Settings) -> DocumentRegistry:
    """The document registry of an installation, with the document store its settings name.
    Its tables are made on first use: on PostgreSQL, components starting at once may race to
    make them ("tuple concurrently updated"), so the loser tries again."""
    blobs: BlobStore
    if settings.document_store == "s3":
        blobs = S3BlobStore(settings.s3_bucket, settings.s3_endpoint_url, settings.s3_region,
                            settings.s3_access_key_id, settings.s3_secret_access_key)
    else:
        blobs = FileBlobStore(settings.documents_dir)
    for attempt in range(1, TABLE_RACE_TRIES + 1):
        try:
            return DocumentRegistry(settings.documents_env(), settings.event_store_env(), blobs)
        except (PersistenceError, DatabaseError):
            if attempt == TABLE_RACE_TRIES:
                raise
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")
