"""The projection: which events change which figures."""

from __future__ import annotations

import hashlib
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from lnere.domain.attention import Attention
from lnere.domain.campaigns import REACHED, CallList
from lnere.domain.commands import CallOutcome
from lnere.domain.journey import Journey
from lnere.domain.outreach import Outreach
from lnere.domain.rules import AnalysisStatus, Stage
from lnere.projections.journey_counts.schema import AGE_RANGES, age_range, view_tables
from lnere.projections.journey_counts.views import CountsView
from lnere.store.topics import topics_of


def _moves_to(stage: Stage, analysis: AnalysisStatus | None = None):
    """A handler for an event whose only effect on the figures is a fixed new stage (and
    analysis status)."""

    def handler(projection: JourneyCountsProjection, domain_event: Any, tracking: Tracking) -> None:
        projection.view.record(
            tracking, str(domain_event.originator_id), at=domain_event.at, stage=stage, analysis=analysis
        )

    return handler


class JourneyCountsProjection(Projection[CountsView]):
    name = "journey_counts"

    # The events that change the view; any other only advances the view's position, and the
    # runner neither fetches nor decrypts it. Each has a handler below (a topic without one, or a
    # handler without its topic, makes the view differ from a recount: the tests compare them).
    topics = tuple(topic for event_class in (
        Journey.Started, Journey.CredentialRecorded, Journey.RequestFiled, Journey.ReviewDecided,
        Journey.SubsaneDocumentsReceived, Journey.RejectionReopened, Journey.SubsaneExpired, Journey.ListedForReview,
        Journey.IncludedInDefinitiveList, Journey.ExcludedFromDefinitiveList, Journey.ClosedWithoutRequest,
        Journey.DeliveryRecorded, Journey.CpveRequested, Journey.CpveStepRecorded, Journey.CpveCancelled,
        Journey.CredentialActivated, Outreach.OutboundCallRecorded, Outreach.AutomatedNoticeSent, Attention.Recorded,
        CallList.Completed,
    ) for topic in topics_of(event_class))
    # The view's version follows from what defines it: its tables, the age ranges its rows hold
    # and the events it reads. A change to any starts a new view, filled from the event log.
    # (The last item names what the rows hold beyond the tables: each state's scope since issue 17.)
    version = hashlib.sha256(repr((view_tables(), AGE_RANGES, topics, "state scopes")).encode()).hexdigest()[:12]

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """An event that changes no figure (the runner does not send these) still advances the
        tracking position."""
        self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, domain_event: Journey.Started, tracking: Tracking) -> None:
        self.view.record(
            tracking,
            str(domain_event.originator_id),
            at=domain_event.at,
            start=(domain_event.process_id, domain_event.workflow_id, domain_event.timezone),
        )

    @process_event.register
    def _(self, domain_event: Journey.RequestFiled, tracking: Tracking) -> None:
        dimensions = {
            "country_state": f"{domain_event.country}|{domain_event.state_of_reference}",
            "credential_channel": f"{domain_event.credential_kind}|{domain_event.channel}",
            "sex": domain_event.sex,
            "age": age_range(domain_event.age_at_filing),
            "sex_age": f"{domain_event.sex}|{age_range(domain_event.age_at_filing)}",
            "modality": domain_event.modality,
        }
        if site := getattr(domain_event, "voting_site", None):  # in person (events before sites have none)
            dimensions["voting_site"] = site
        request = {
            "state_of_reference": domain_event.state_of_reference,
            "country": domain_event.country,
            "modality": domain_event.modality,
            "channel": domain_event.channel,
            "credential_kind": domain_event.credential_kind,
        }
        self.view.record(
            tracking,
            str(domain_event.originator_id),
            at=domain_event.at,
            filed=dimensions,
            request=request,
            stage=Stage.IN_REVIEW,
            analysis=AnalysisStatus.IN_REVIEW,
        )

    @process_event.register
    def _(self, domain_event: Journey.ReviewDecided, tracking: Tracking) -> None:
        self.view.record(
            tracking,
            str(domain_event.originator_id),
            at=domain_event.at,
            stage=domain_event.outcome,
            analysis=domain_event.outcome,
        )

    @process_event.register
    def _(self, domain_event: Outreach.OutboundCallRecorded, tracking: Tracking) -> None:
        self.view.count(tracking, domain_event.process_id, domain_event.timezone, domain_event.at,
                        {"call_outcome": domain_event.outcome})

    @process_event.register
    def _(self, domain_event: Outreach.AutomatedNoticeSent, tracking: Tracking) -> None:
        self.view.count(tracking, domain_event.process_id, domain_event.timezone, domain_event.at,
                        {"notice": domain_event.channel})

    @process_event.register
    def _(self, domain_event: Journey.DeliveryRecorded, tracking: Tracking) -> None:
        self.view.count(tracking, None, None, domain_event.at, {"delivery": domain_event.status},
                        journey_id=str(domain_event.originator_id))

    # The CPVE's life, by step, state of reference and embassy or consulate.
    @process_event.register
    def _(self, domain_event: Journey.CpveRequested, tracking: Tracking) -> None:
        self._cpve(domain_event, tracking, "requested")

    @process_event.register
    def _(self, domain_event: Journey.CpveStepRecorded, tracking: Tracking) -> None:
        self._cpve(domain_event, tracking, domain_event.step)

    @process_event.register
    def _(self, domain_event: Journey.CpveCancelled, tracking: Tracking) -> None:
        self._cpve(domain_event, tracking, "cancelled")

    @process_event.register
    def _(self, domain_event: Journey.CredentialActivated, tracking: Tracking) -> None:
        # Counted when the CPVE's life is recorded in the journey (its office known).
        keys = {} if domain_event.cpve_office is None else {
            "cpve": f"activated|{domain_event.cpve_state}|{domain_event.cpve_office}"}
        self.view.count(tracking, None, None, domain_event.at, keys, journey_id=str(domain_event.originator_id),
                        state=domain_event.cpve_state)

    def _cpve(self, domain_event: Any, tracking: Tracking, step: str) -> None:
        key = f"{step}|{domain_event.state}|{domain_event.office}"
        journey = str(domain_event.originator_id)
        self.view.count(tracking, None, None, domain_event.at, {"cpve": key}, journey_id=journey,
                        state=domain_event.state)

    @process_event.register
    def _(self, domain_event: CallList.Completed, tracking: Tracking) -> None:
        # A campaign's progress: every call, and each citizen called, reached, registered once.
        campaign, outcome = domain_event.campaign, domain_event.outcome
        keys = {"campaign_calls": campaign}
        if domain_event.first_call:
            keys["campaign_called"] = campaign
        if outcome in REACHED:
            keys["campaign_reached"] = campaign
        if outcome == CallOutcome.REGISTERED:
            keys["campaign_registered"] = campaign
        self.view.count(tracking, domain_event.process_id, domain_event.timezone, domain_event.at, keys)

    @process_event.register
    def _(self, domain_event: Attention.Recorded, tracking: Tracking) -> None:
        # Report section 4.2 counts attentions by service, and within it by topic, channel, origin.
        service = domain_event.service
        self.view.count(tracking, domain_event.process_id, domain_event.timezone, domain_event.at, {
            "attention_topic": f"{service}|{domain_event.topic}",
            "attention_channel": f"{service}|{domain_event.channel}",
            "attention_origin": f"{service}|{domain_event.origin}",
        })

    process_event.register(Journey.CredentialRecorded, _moves_to(Stage.CREDENTIAL_RECORDED))
    process_event.register(
        Journey.SubsaneDocumentsReceived, _moves_to(Stage.IN_REVIEW, AnalysisStatus.IN_REVIEW)
    )
    process_event.register(Journey.RejectionReopened, _moves_to(Stage.IN_REVIEW, AnalysisStatus.IN_REVIEW))
    process_event.register(Journey.SubsaneExpired, _moves_to(Stage.REJECTED, AnalysisStatus.REJECTED))
    process_event.register(Journey.ListedForReview, _moves_to(Stage.LISTED_FOR_REVIEW))
    process_event.register(Journey.IncludedInDefinitiveList, _moves_to(Stage.INCLUDED))
    @process_event.register
    def _(self, domain_event: Journey.ExcludedFromDefinitiveList, tracking: Tracking) -> None:
        self.view.record(tracking, str(domain_event.originator_id), at=domain_event.at, stage=Stage.EXCLUDED,
                         reason=domain_event.reason)

    process_event.register(Journey.ClosedWithoutRequest, _moves_to(Stage.CLOSED_WITHOUT_REQUEST))
