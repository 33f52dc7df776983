"""An independent recount of the figures straight from the event log, to check projections
against. It reads every event in log order and keeps each journey's latest facts; it shares
no code with the projection."""

from __future__ import annotations

from collections import Counter
from datetime import date

from lnere.store.registry import JourneyRegistry

STAGE_OF_EVENT = {
    "CredentialRecorded": "credential_recorded",
    "RequestFiled": "in_review",
    "SubsaneDocumentsReceived": "in_review",
    "RejectionReopened": "in_review",
    "SubsaneExpired": "rejected",
    "ListedForReview": "listed_for_review",
    "IncludedInDefinitiveList": "included",
    "ExcludedFromDefinitiveList": "excluded",
    "ClosedWithoutRequest": "closed_without_request",
}
ANALYSIS_OF_EVENT = {
    "RequestFiled": "in_review",
    "SubsaneDocumentsReceived": "in_review",
    "RejectionReopened": "in_review",
    "SubsaneExpired": "rejected",
}


def _bucket(age: int) -> str:
    if age <= 18:
        return "18"
    if age == 19:
        return "19"
    if age >= 65:
        return "65 o más"
    return f"{age - age % 5}-{age - age % 5 + 4}"


def recount(registry: JourneyRegistry, as_of: date | None = None, state: str | None = None) -> dict[str, Counter]:
    """The figures of the whole process, or (``state``, totals only) of one state's own: its
    citizens' facts once their state of reference is known, the CPVEs requested for it; no
    outreach nor attention (they name no state)."""
    stage: dict[str, str] = {}
    state_of: dict[str, str] = {}
    analysis: dict[str, str] = {}
    zones: dict[str, object] = {}
    counts: dict[str, Counter] = {
        k: Counter() for k in ("country_state", "credential_channel", "sex", "age", "sex_age", "modality",
                               "call_outcome", "notice", "definitive", "exclusion", "delivery", "attention_topic",
                               "attention_channel", "attention_origin", "cpve", "voting_site", "campaign_calls",
                               "campaign_called", "campaign_reached", "campaign_registered")
    }
    placed: dict[str, str] = {}
    start = 1
    while True:
        notifications = registry.recorder.select_notifications(start=start, limit=1000)
        if not notifications:
            break
        for notification in notifications:
            if notification.topic.startswith(("domain.milestone_run:", "lnere.domain.milestone_run:")):
                continue  # where a milestone's application stands: no citizen's fact
            event = registry.mapper.to_domain_event(notification)
            jid = str(event.originator_id)
            name = type(event).__name__
            if name in ("Started", "Recorded"):  # a journey's or outreach's start; an attention, whole
                from zoneinfo import ZoneInfo

                zones[jid] = ZoneInfo(event.timezone)
                if name == "Started":
                    continue
            if as_of is not None and event.at.astimezone(zones[jid]).date() > as_of:
                continue
            if name == "RequestFiled":
                state_of[jid] = event.state_of_reference
            fact_state = {"CpveRequested": "state", "CpveStepRecorded": "state", "CpveCancelled": "state",
                          "CredentialActivated": "cpve_state"}.get(name)
            of_state = getattr(event, fact_state) if fact_state else state_of.get(jid)
            if state is not None and of_state != state:
                continue
            if name == "RequestFiled":
                placed[jid] = f"{event.state_of_reference}|{event.modality}"
                counts["country_state"][f"{event.country}|{event.state_of_reference}"] += 1
                counts["credential_channel"][f"{event.credential_kind}|{event.channel}"] += 1
                counts["sex"][event.sex] += 1
                counts["age"][_bucket(event.age_at_filing)] += 1
                counts["sex_age"][f"{event.sex}|{_bucket(event.age_at_filing)}"] += 1
                counts["modality"][event.modality] += 1
                if getattr(event, "voting_site", None):
                    counts["voting_site"][event.voting_site] += 1
            if name == "IncludedInDefinitiveList":
                counts["definitive"][placed[jid]] += 1
            if name == "ExcludedFromDefinitiveList":
                counts["exclusion"][event.reason] += 1
            if name == "DeliveryRecorded":
                counts["delivery"][event.status] += 1
            if name == "OutboundCallRecorded":
                counts["call_outcome"][event.outcome] += 1
            if name == "AutomatedNoticeSent":
                counts["notice"][event.channel] += 1
            if name == "CpveRequested":
                counts["cpve"][f"requested|{event.state}|{event.office}"] += 1
            if name == "CpveStepRecorded":
                counts["cpve"][f"{event.step}|{event.state}|{event.office}"] += 1
            if name == "CpveCancelled":
                counts["cpve"][f"cancelled|{event.state}|{event.office}"] += 1
            if name == "CredentialActivated" and getattr(event, "cpve_office", None):
                counts["cpve"][f"activated|{event.cpve_state}|{event.cpve_office}"] += 1
            if name == "Completed" and state is None:  # a campaign's call (the process's figure)
                counts["campaign_calls"][event.campaign] += 1
                if event.first_call:
                    counts["campaign_called"][event.campaign] += 1
                if event.outcome in ("registered", "informed", "no_intention_to_vote"):
                    counts["campaign_reached"][event.campaign] += 1
                if event.outcome == "registered":
                    counts["campaign_registered"][event.campaign] += 1
            if name == "Recorded":
                counts["attention_topic"][f"{event.service}|{event.topic}"] += 1
                counts["attention_channel"][f"{event.service}|{event.channel}"] += 1
                counts["attention_origin"][f"{event.service}|{event.origin}"] += 1
            if name == "ReviewDecided":
                stage[jid] = analysis[jid] = event.outcome
            if name in STAGE_OF_EVENT:
                stage[jid] = STAGE_OF_EVENT[name]
            if name in ANALYSIS_OF_EVENT:
                analysis[jid] = ANALYSIS_OF_EVENT[name]
        start = notifications[-1].id + 1
    if state is not None:
        stage = {jid: value for jid, value in stage.items() if state_of.get(jid) == state}
        analysis = {jid: value for jid, value in analysis.items() if state_of.get(jid) == state}
    counts["stage"] = Counter(stage.values())
    counts["analysis"] = Counter(analysis.values())
    return {k: Counter({key: n for key, n in v.items() if n}) for k, v in counts.items() if any(v.values())}
