"""After the definitive list: each included citizen gets the postal package or the access to
vote by internet, according to the modality; a citizen who votes in person gets neither.

The carrier and the voting system are adapters behind two small interfaces; the defaults are
in-process (they hand out references and deliver nothing), a real integration is a class named in
the settings (``LNERE_POSTAL_CARRIER``, ``LNERE_INTERNET_VOTING``). An adapter must be idempotent
by journey: asked twice for the same journey, it answers the same reference (a retried activity
asks again). It receives a page of citizens at once (``send_packages``, ``issue_accesses``);
one that has only the one-citizen method is asked once per citizen. The page's deliveries are
recorded in one event-store transaction. Later news from the carrier (delivered, returned)
arrive as ``record_delivery`` commands through the API or a command file.
"""

from __future__ import annotations

import asyncio
import hashlib
from importlib import import_module
from typing import Any, Protocol

from eventsourcing.persistence import IntegrityError
from temporalio import activity

from lnere import logs
from lnere.domain.commands import DeliveryStatus, RecordDelivery
from lnere.domain.process import Modality, ProcessCatalog
from lnere.domain.rules import Stage
from lnere.projections.journey_counts import CountsView
from lnere.store.registry import JourneyRegistry
from lnere.workflows.messages import DeliveryInput, DeliveryResult

log = logs.get_logger("lnere.activities.deliveries")

PAGE_SIZE = 500
CONFLICT_RETRIES = 20

# What each modality receives; a modality not named here (in person) receives nothing.
DELIVERY_KIND = {Modality.POSTAL.value: DeliveryStatus.POSTAL_SENT,
                 Modality.INTERNET.value: DeliveryStatus.INTERNET_ACCESS_ISSUED}


class PostalCarrier(Protocol):
    def send_package(self, journey: str, address: dict[str, Any]) -> str:
        """Sends the electoral package to the address; returns the tracking reference."""


class InternetVotingSystem(Protocol):
    def issue_access(self, journey: str, contact: dict[str, Any]) -> str:
        """Issues the access to vote by internet to the contact; returns the access id."""


def _reference(prefix: str, journey: str) -> str:
    return f"{prefix}-{hashlib.sha256(journey.encode()).hexdigest()[:16].upper()}"


class InProcessPostalCarrier:
    def send_package(self, journey: str, address: dict[str, Any]) -> str:
        return _reference("PKG", journey)

    def send_packages(self, items: list[tuple[str, dict[str, Any]]]) -> list[str]:
        return [self.send_package(journey, address) for journey, address in items]


class InProcessInternetVoting:
    def issue_access(self, journey: str, contact: dict[str, Any]) -> str:
        return _reference("ACC", journey)

    def issue_accesses(self, items: list[tuple[str, dict[str, Any]]]) -> list[str]:
        return [self.issue_access(journey, contact) for journey, contact in items]


def load_adapter(path: str) -> Any:
    """An adapter from ``module:Class``."""
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)()


def _send_packages(carrier: Any, items: list[tuple[str, dict[str, Any]]]) -> list[str]:
    if hasattr(carrier, "send_packages"):
        return list(carrier.send_packages(items))
    return [carrier.send_package(journey, address) for journey, address in items]


def _issue_accesses(voting: Any, items: list[tuple[str, dict[str, Any]]]) -> list[str]:
    if hasattr(voting, "issue_accesses"):
        return list(voting.issue_accesses(items))
    return [voting.issue_access(journey, contact) for journey, contact in items]


class DeliveryActivities:
    def __init__(self, registry: JourneyRegistry, view: CountsView, processes: ProcessCatalog,
                 carrier: PostalCarrier, voting: InternetVotingSystem) -> None:
        self._registry = registry
        self._view = view
        self._processes = processes
        self._carrier = carrier
        self._voting = voting

    @activity.defn(name="deliver_definitive_list")
    async def deliver_definitive_list(self, input: DeliveryInput) -> DeliveryResult:
        details = activity.info().heartbeat_details
        cursor = details[0] if len(details) == 2 else ""
        result = DeliveryResult.model_validate(details[1]) if len(details) == 2 else DeliveryResult()
        while True:
            page = await asyncio.to_thread(self._view.journeys_in_stages, input.process_id, [Stage.INCLUDED.value],
                                           cursor, "g", PAGE_SIZE)
            if not page:
                break
            for attempt in range(CONFLICT_RETRIES):
                try:
                    sent = await asyncio.to_thread(self._deliver_page, input, [w for _, w in page])
                    break
                except IntegrityError:  # a journey of the page changed meanwhile: read it again
                    activity.heartbeat(cursor, result.model_dump())
                    await asyncio.sleep(0.05 * (attempt + 1))
            else:
                raise RuntimeError(f"a page of {len(page)} journeys kept changing under the deliveries")
            result.postal_sent += sent[DeliveryStatus.POSTAL_SENT]
            result.internet_access_issued += sent[DeliveryStatus.INTERNET_ACCESS_ISSUED]
            cursor = page[-1][0]
            activity.heartbeat(cursor, result.model_dump())
            log.info("deliveries progress", process_id=input.process_id, **result.model_dump())
        log.info("definitive list delivered", process_id=input.process_id, **result.model_dump())
        return result

    def _deliver_page(self, input: DeliveryInput, workflow_ids: list[str]) -> dict[DeliveryStatus, int]:
        """Asks the adapters for a page's deliveries, by modality, and records them in one
        transaction. A delivery recorded by an earlier attempt counts again (the adapters are
        idempotent, the command id too), so a resumed run reports every delivery once."""
        process_id = input.process_id
        journeys = self._registry.journeys(workflow_ids)
        wanted: dict[DeliveryStatus, list[str]] = {kind: [] for kind in DELIVERY_KIND.values()}
        already = {kind: 0 for kind in DELIVERY_KIND.values()}
        for workflow_id in workflow_ids:
            journey = journeys.get(workflow_id)
            if journey is None or journey.stage is not Stage.INCLUDED:
                continue
            kind = DELIVERY_KIND.get(journey.status().modality or "")
            if kind is None:
                continue
            if journey.has_processed(f"delivery:{kind}"):
                already[kind] += 1
            elif journey.delivery is None:
                wanted[kind].append(workflow_id)
        references: dict[DeliveryStatus, list[str]] = {}
        for kind, ids in wanted.items():
            if not ids:
                continue
            personal = [self._registry.request_contact_of(journeys[w]) for w in ids]
            if kind is DeliveryStatus.POSTAL_SENT:
                addresses = [(w, p.get("address", {})) for w, p in zip(ids, personal, strict=True)]
                references[kind] = _send_packages(self._carrier, addresses)
            else:
                contacts = [(w, p.get("contact", {})) for w, p in zip(ids, personal, strict=True)]
                references[kind] = _issue_accesses(self._voting, contacts)
        commands = [
            (w, RecordDelivery(at=input.at, status=kind, reference=ref, command_id=f"delivery:{kind}"))
            for kind, refs in references.items() for w, ref in zip(wanted[kind], refs, strict=True)
        ]
        process = self._processes.get(process_id)
        outcomes = self._registry.record_on_read(process, journeys, commands) if commands else []
        for (_, command), outcome in zip(commands, outcomes, strict=True):
            if outcome.accepted:
                already[command.status] += 1
            else:
                log.warning("delivery refused", rule=outcome.rule)
        return already
