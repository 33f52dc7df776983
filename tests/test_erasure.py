"""Crypto-shredding on a real SQLite event store: an ended journey's personal data become
unreadable, its facts and the counts stay; an open journey keeps them."""

from __future__ import annotations

import json
import random
import secrets

import pytest

from lnere.domain.commands import (
    ApplyMilestone,
    ErasePersonalData,
    FileRequest,
    RecordCredential,
)
from lnere.domain.identity import journey_workflow_id
from lnere.domain.process import Milestone, ProcessCatalog
from lnere.domain.rules import DomainError
from lnere.store.registry import JourneyRegistry
from tests.citizens import at, credential, request
from tests.recount import recount

PROCESS = ProcessCatalog.load().get("pel-2020-2021")


def event_state(registry: JourneyRegistry, workflow_id: str) -> str:
    return json.dumps([e.__dict__ for e in registry.history(workflow_id)], default=str)


def test_an_ended_journey_loses_its_personal_data_not_its_counts(settings):
    from datetime import UTC, datetime

    from lnere.store.documents import open_documents
    from tests.documents import pdf

    registry = JourneyRegistry(env=settings.event_store_env())
    documents = open_documents(settings)
    rng = random.Random(3)
    try:
        closed = credential(rng)
        filed = credential(rng)
        closed_id = journey_workflow_id(secrets.token_bytes(32), PROCESS.id, closed["clave"])
        filed_id = journey_workflow_id(secrets.token_bytes(32), PROCESS.id, filed["clave"])
        registry.execute(PROCESS, closed_id, RecordCredential.model_validate(
            {"at": at("2020-10-01 10:00").isoformat(), "credential": closed}))
        registry.execute(PROCESS, filed_id, FileRequest.model_validate(
            request(filed, when=at("2020-10-02 10:00"))))
        # Event state never holds the personal data in clear: it is sealed with the citizen's key.
        for workflow_id, person in ((closed_id, closed), (filed_id, filed)):
            assert person["clave"] not in event_state(registry, workflow_id)
            assert registry.personal_data(workflow_id)["credential"]["clave"] == person["clave"]
        assert registry.personal_data(filed_id)["contact"] == {"email": "citizen@example.org", "phone": None}

        # Each has a document in its expediente, sealed with the citizen's key.
        proof = pdf(1)
        kept = {w: documents.add(PROCESS, w, "ADDRESS_PROOF", "recibo.pdf", proof, "operator.1", datetime.now(UTC))
                for w in (closed_id, filed_id)}
        erase = ErasePersonalData(at=at("2021-06-30 10:00"), staff="derfe.admin", reason="retention period over")
        with pytest.raises(DomainError, match=r"\[erasure-needs-ended-journey\]"):
            registry.execute(PROCESS, filed_id, erase)
        assert registry.personal_data(filed_id) is not None

        registry.execute(PROCESS, closed_id, ApplyMilestone(
            at=at("2021-03-10 12:00"), milestone=Milestone.REGISTRATION_CLOSED))
        assert PROCESS.personal_data_retention_days == 30
        too_early = erase.model_copy(update={"at": at("2021-04-01 10:00")})  # 22 days after it ended
        with pytest.raises(DomainError, match=r"^at: personal data are kept until 2021-04-09.*\[retention-period\]"):
            registry.execute(PROCESS, closed_id, too_early)
        counts = recount(registry)
        events = registry.recorder.max_notification_id()
        registry.execute(PROCESS, closed_id, erase)
        assert registry.personal_data(closed_id) is None
        assert [type(e).__name__ for e in registry.history(closed_id)][-2:] == [
            "ClosedWithoutRequest", "PersonalDataErased"]
        assert registry.recorder.max_notification_id() == events + 1
        assert recount(registry) == counts
        registry.execute(PROCESS, closed_id, erase)  # again: nothing more
        assert registry.recorder.max_notification_id() == events + 1
        # Its documents went with its key: unreadable by anyone, only ciphertext left on disk.
        with pytest.raises(DomainError, match=r"\[personal-data-erased\]"):
            documents.read(closed_id, kept[closed_id].id, "reviewer.1", "reviewer")
        on_disk = [p.read_bytes() for p in settings.documents_dir.rglob("*") if p.is_file()]
        assert len(on_disk) == 2 and all(b"%PDF" not in blob and proof not in blob for blob in on_disk)
        assert documents.read(filed_id, kept[filed_id].id, "reviewer.1", "reviewer")[1] == proof  # open: kept
    finally:
        documents.close()
        registry.close()

    # A new registry over the same files (a restarted worker) cannot read them either.
    reopened = JourneyRegistry(env=settings.event_store_env())
    try:
        assert reopened.personal_data(closed_id) is None
        assert reopened.personal_data(filed_id)["credential"]["clave"] == filed["clave"]
    finally:
        reopened.close()
