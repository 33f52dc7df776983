"""A citizen asks where their request stands ("Consulta el estatus de tu solicitud"): the folio
they were given, their clave de elector and date of birth. All three must match one request;
any mismatch gets the same answer (nothing tells which was wrong, so nothing can be found out
by trying). The answer holds the request's status, the reasons and the deadline when there are
inconsistencies, and what comes next — nothing else of the person."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date, datetime

from lnere.domain.identity import folio_of, journey_workflow_id, normal_folio
from lnere.domain.process import ElectoralProcess, Milestone
from lnere.domain.rules import Stage
from lnere.domain.values import ClaveElector
from lnere.store.registry import JourneyRegistry


@dataclass(frozen=True)
class RequestStatus:
    process: ElectoralProcess
    stage: str
    reasons: tuple[tuple[str, str], ...]  # (code, INE's words)
    deadline: datetime | None  # to send the documents that correct the inconsistencies
    documents: tuple[str, ...]  # what corrects them (INE's words)
    modality: str | None
    delivery: str | None
    list_for_review: datetime
    definitive_list: datetime


class StatusLookup:
    def __init__(self, registry: JourneyRegistry, journey_key: bytes) -> None:
        self.registry = registry
        self.journey_key = journey_key

    def folio(self, workflow_id: str) -> str:
        return folio_of(self.journey_key, workflow_id)

    def lookup(self, process: ElectoralProcess, folio: str, clave: str, birth_date: date) -> RequestStatus | None:
        """The request's status, or None when the three do not name one request."""
        try:
            clave = ClaveElector.parse(clave.strip().upper())
        except ValueError:
            return None
        workflow_id = journey_workflow_id(self.journey_key, process.id, clave)
        if not hmac.compare_digest(normal_folio(folio), self.folio(workflow_id)):
            return None
        journey = self.registry.journey(workflow_id)
        if journey is None or journey.request_sealed is None:
            return None
        data = self.registry.personal_data_of(journey)
        if data is None or data["credential"]["holder"]["birth_date"] != birth_date.isoformat():
            return None
        status = journey.status()
        catalogue = {**process.inconsistency_reasons, **process.rejection_reasons, **process.exclusion_reasons}
        reasons = tuple((code, catalogue.get(code, code)) for code in status.reasons)
        inconsistent = status.stage == Stage.INCONSISTENCIES
        correcting = sorted({process.documents[kind].label for code in status.reasons
                             for kind in process.correcting_documents(code)}) if inconsistent else []
        return RequestStatus(
            process=process, stage=str(status.stage), reasons=reasons,
            deadline=process.milestone_at(Milestone.ANALYSIS_DEADLINE) if inconsistent else None,
            documents=tuple(correcting), modality=status.modality, delivery=status.delivery,
            list_for_review=process.milestone_at(Milestone.LIST_FOR_REVIEW_ISSUED),
            definitive_list=process.milestone_at(Milestone.DEFINITIVE_LIST))
