"""After the definitive list: each included citizen gets the postal package or the access to
vote by internet, according to the modality.

The carrier and the voting system are adapters behind two small interfaces; the defaults are
in-process (they hand out references and deliver nothing), a real integration is a class named in
the settings (``LNERE_POSTAL_CARRIER``, ``LNERE_INTERNET_VOTING``). An adapter must be idempotent
by journey: asked twice for the same journey, it answers the same reference (a retried activity
asks again). Later news from the carrier (delivered, returned) arrive as ``record_delivery``
commands through the API or a command file.
"""

from __future__ import annotations

import asyncio
import hashlib
from importlib import import_module
from typing import Any, Protocol

from temporalio import activity

import logs
from cli.journeys import JourneyClient
from domain.commands import RecordDelivery
from domain.registry import JourneyRegistry
from domain.rules import Stage
from projections.journey_counts import JourneyCountsView
from workflows.messages import DeliveryInput, DeliveryResult

log = logs.get_logger("lnere.activities.deliveries")

PAGE_SIZE = 200


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


class InProcessInternetVoting:
    def issue_access(self, journey: str, contact: dict[str, Any]) -> str:
        return _reference("ACC", journey)


def load_adapter(path: str) -> Any:
    """An adapter from ``module:Class``."""
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)()


class DeliveryActivities:
    def __init__(self, registry: JourneyRegistry, view: JourneyCountsView, journeys: JourneyClient,
                 carrier: PostalCarrier, voting: InternetVotingSystem) -> None:
        self._registry = registry
        self._view = view
        self._journeys = journeys
        self._carrier = carrier
        self._voting = voting

    @activity.defn(name="deliver_definitive_list")
    async def deliver_definitive_list(self, input: DeliveryInput) -> DeliveryResult:
        details = activity.info().heartbeat_details
        cursor = details[0] if details else ""
        result = DeliveryResult.model_validate(details[1]) if details else DeliveryResult()
        while True:
            page = await asyncio.to_thread(self._view.journeys_in_stages, input.process_id, [Stage.INCLUDED.value],
                                           cursor, "g", PAGE_SIZE)
            if not page:
                break
            for _, workflow_id in page:
                status = await asyncio.to_thread(self._registry.status, workflow_id)
                if status is None or status.delivery is not None:
                    continue
                personal = await asyncio.to_thread(self._registry.personal_data, workflow_id) or {}
                if status.modality == "postal":
                    reference = await asyncio.to_thread(self._carrier.send_package, workflow_id,
                                                        personal.get("address", {}))
                    kind = "postal_sent"
                else:
                    reference = await asyncio.to_thread(self._voting.issue_access, workflow_id,
                                                        personal.get("contact", {}))
                    kind = "internet_access_issued"
                command = RecordDelivery(at=input.at, status=kind, reference=reference,
                                         command_id=f"delivery:{kind}")
                answer = await self._journeys.send_batch(input.process_id, workflow_id, [command])
                if answer.outcomes[0].accepted:
                    result.postal_sent += kind == "postal_sent"
                    result.internet_access_issued += kind == "internet_access_issued"
                else:
                    log.warning("delivery refused", workflow_id=workflow_id, error=answer.outcomes[0].error)
            cursor = page[-1][0]
            activity.heartbeat(cursor, result.model_dump())
        log.info("definitive list delivered", process_id=input.process_id, **result.model_dump())
        return result
