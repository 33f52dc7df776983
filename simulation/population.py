"""Synthetic populations whose report equals published figures.

A scenario (``simulation/scenarios/<name>.json``) names a process, an as-of date, a random
seed and the published tables it must reproduce. Every marginal of the tables becomes a list
of exactly that many values (country × state from the joint table; credential × channel from
its joint table; sex, age range, modality and analysis status from theirs); each list is
shuffled with the seeded generator and the i-th journey takes the i-th value of each. So the
counts are exact by construction, while the combinations vary like a real population. Business
times are drawn inside the filing period so that, at the as-of date, each journey has exactly
its analysis status.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lnere.application.command_file import journey_line
from lnere.domain.commands import (
    ActivateCredential,
    CallOutcome,
    DecideReview,
    FileRequest,
    RecordAttention,
    RecordCredential,
    RecordOutboundCall,
    SendAutomatedNotice,
    SendSubsaneDocuments,
)
from lnere.domain.process import ElectoralProcess
from lnere.domain.values import age_on
from lnere.projections.report import (
    ATTENTION_CHANNEL_LABELS,
    ATTENTION_ORIGIN_LABELS,
    ATTENTION_SERVICE_LABELS,
    AUTOMATED_NOTICES,
    OUTBOUND_CALL_OUTCOMES,
)
from lnere.simulation import people

SCENARIOS_DIR = Path(__file__).parent / "scenarios"

AGE_SPANS = {
    "18": (18, 18), "19": (19, 19), "20-24": (20, 24), "25-29": (25, 29), "30-34": (30, 34),
    "35-39": (35, 39), "40-44": (40, 44), "45-49": (45, 49), "50-54": (50, 54), "55-59": (55, 59),
    "60-64": (60, 64), "65 o más": (65, 88),
}
SEX_CODES = {"Hombres": "H", "Mujeres": "M"}
SUBSANE_DOCUMENTS = {
    "ID_IMAGE_ILLEGIBLE": "ID_IMAGE", "ID_IMAGE_MISSING": "ID_IMAGE", "ADDRESS_PROOF_MISSING": "ADDRESS_PROOF",
    "ADDRESS_PROOF_INVALID": "ADDRESS_PROOF", "SIGNATURE_MISSING": "SIGNED_REQUEST", "DATA_MISMATCH": "ID_IMAGE",
}
REVIEWERS = [f"derfe.analista.{n:02d}" for n in range(1, 13)]


class Scenario(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str
    process: str
    as_of: date
    random_seed: int
    targets: str = Field(description="the published report, a file beside the scenario")
    filing_from: date
    in_review_filed_from: date = Field(description="requests still in review at the as-of date were filed from here")
    decision_days: tuple[int, int] = Field(description="days from filing to the review decision, min and max")
    credential_first_share: float = Field(ge=0, le=1, description="CPVE journeys whose credential is recorded "
                                          "and activated before the request")
    corrected_share: float = Field(ge=0, le=1, description="requests meeting requirements after a subsane")
    outreach_pool: int = Field(default=0, ge=0, description="CPVE holders without a request whom the outreach "
                               "campaigns reach (their calls and notices reproduce tables 4.2.1 and 4.2.2)")

    attention_targets: str | None = Field(default=None, description="INETEL's attention figures (report section "
                                          "4.2), a file beside the scenario")

    def targets_path(self) -> Path:
        return SCENARIOS_DIR / self.targets


def load_scenario(name: str) -> Scenario:
    path = SCENARIOS_DIR / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in SCENARIOS_DIR.glob("*.json") if not p.stem.endswith(".report"))
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(known)}")
    return Scenario.model_validate_json(path.read_text(encoding="utf-8"))


def load_targets(scenario: Scenario) -> dict[str, Any]:
    """The published tables the scenario reproduces: the report's, and INETEL's attention."""
    targets = json.loads(scenario.targets_path().read_text(encoding="utf-8"))
    if scenario.attention_targets is not None:
        attention = json.loads((SCENARIOS_DIR / scenario.attention_targets).read_text(encoding="utf-8"))
        targets["inetel_attention"] = attention["inetel_attention"]
    return targets


@dataclass
class Plan:
    """One journey to simulate."""

    country: str
    state: str
    credential_kind: str
    channel: str
    sex: str
    age_range: str
    modality: str
    analysis: str  # meets_requirements | inconsistencies | in_review


def _expand(counts: dict[Any, int]) -> list[Any]:
    return [key for key, n in counts.items() for _ in range(n)]


def plans(targets: dict[str, Any], process: ElectoralProcess, rng: random.Random) -> list[Plan]:
    state_codes = {s.name: s.code for s in process.states}
    places = _expand({(row["country_code"], state_codes[state]): n
                      for row in targets["by_country_entity"] for state, n in row["by_entity"].items() if n})
    total = len(places)
    credential_channel = _expand({(kind, channel): n
                                  for kind in ("CPVE", "CPV")
                                  for channel, n in targets["by_credential_channel"][kind].items()
                                  if channel != "TOTAL"})
    sexes = _expand({SEX_CODES[k]: n for k, n in targets["by_sex"].items() if k != "TOTAL"})
    ages = _expand({k: n for k, n in targets["by_age_range"].items() if k != "TOTAL"})
    modality_of = {label: modality.value for modality, label in process.modality_labels.items()}
    modalities = _expand({modality_of[k]: n for k, n in targets["by_modality"].items() if k != "TOTAL"})
    analysis = targets["analysis_status"]
    statuses = _expand({k: analysis[k] for k in ("meets_requirements", "inconsistencies", "in_review")})
    columns = [places, credential_channel, sexes, ages, modalities, statuses]
    for column in columns:
        if len(column) != total:
            raise ValueError(f"the published tables disagree: {len(column)} vs {total} requests")
        rng.shuffle(column)
    return [
        Plan(country=c, state=s, credential_kind=k, channel=ch, sex=sex, age_range=age, modality=mod, analysis=st)
        for (c, s), (k, ch), sex, age, mod, st in zip(*columns, strict=True)
    ]


class _Clock:
    """Business moments inside office hours of the process timezone."""

    def __init__(self, process: ElectoralProcess, rng: random.Random) -> None:
        self.tz = process.tz
        self.rng = rng

    def on(self, day: date, earliest: time = time(8, 0)) -> datetime:
        start = earliest.hour * 60 + earliest.minute
        minute = self.rng.randrange(start, 20 * 60)
        return datetime.combine(day, time(minute // 60, minute % 60, self.rng.randrange(60)), self.tz)

    def day_between(self, first: date, last: date) -> date:
        return first + timedelta(days=self.rng.randrange((last - first).days + 1))


def journey_commands(plan: Plan, scenario: Scenario, process: ElectoralProcess, rng: random.Random,
                     claves: set[str]) -> tuple[str, list[Any]]:
    clock = _Clock(process, rng)
    as_of = scenario.as_of
    # When the request was filed, and (for decided ones) when it was decided.
    if plan.analysis == "in_review":
        filed_day = clock.day_between(scenario.in_review_filed_from, as_of)
    else:
        lo, hi = scenario.decision_days
        filed_day = clock.day_between(scenario.filing_from, as_of - timedelta(days=lo + 2))
    filed_at = clock.on(filed_day)

    low, high = AGE_SPANS[plan.age_range]
    age = rng.randint(low, high)
    birth = people.birth_date_for_age(age, filed_day, rng)
    assert age_on(birth, filed_day) == age
    given = rng.choice(people.GIVEN_NAMES[plan.sex])
    paternal, maternal = rng.choice(people.SURNAMES), rng.choice(people.SURNAMES)
    state_of_birth = plan.state if rng.random() < 0.85 else f"{rng.randint(1, 32):02d}"
    while True:
        clave = people.clave_de_elector(paternal, maternal, given, birth, state_of_birth, plan.sex, rng)
        if clave not in claves:
            claves.add(clave)
            break

    # The credential: a CPVE issued abroad and activated, or a CPV issued in Mexico.
    adult_from = people.years_after(birth, 18)
    issued = min(max(filed_day - timedelta(days=rng.randint(60, 1800)), adult_from), filed_day - timedelta(days=2))
    credential: dict[str, Any] = {
        "kind": plan.credential_kind,
        "clave": clave,
        "holder": {"given_names": given, "paternal_surname": paternal, "maternal_surname": maternal,
                   "birth_date": birth.isoformat(), "sex": plan.sex},
        "issued_on": issued.isoformat(),
        "valid_until": date(max(issued.year + 10, 2022), 12, 31).isoformat(),
    }
    commands: list[Any] = []
    activated_day = min(issued + timedelta(days=rng.randint(20, 50)), filed_day - timedelta(days=1))
    if plan.credential_kind == "CPVE" and rng.random() < scenario.credential_first_share:
        # Recorded when it was issued, activated when the citizen confirmed receipt.
        commands.append(RecordCredential.model_validate({"at": clock.on(issued), "credential": credential}))
        commands.append(ActivateCredential(at=clock.on(activated_day)))
        inline = None
    else:
        if plan.credential_kind == "CPVE":
            credential["activated_on"] = activated_day.isoformat()
        inline = credential
    commands.append(FileRequest.model_validate({
        "at": filed_at,
        "channel": plan.channel,
        "state_of_reference": plan.state,
        "country": plan.country,
        "address": people.address(plan.country, rng),
        "contact": people.contact(given, paternal, rng, with_phone=plan.channel == "INETEL"),
        "modality": plan.modality,
        **({"credential": inline} if inline is not None else {}),
    }))
    if plan.analysis == "in_review":
        return clave, commands

    lo, hi = scenario.decision_days
    decided_day = min(filed_day + timedelta(days=rng.randint(lo, hi)), as_of)
    reviewer = rng.choice(REVIEWERS)
    corrected = plan.analysis == "meets_requirements" and rng.random() < scenario.corrected_share
    if corrected:
        decided_day = min(decided_day, as_of - timedelta(days=1))
    if plan.analysis == "inconsistencies" or corrected:
        reason = rng.choice(sorted(process.inconsistency_reasons))
        commands.append(DecideReview(at=clock.on(decided_day, earliest=time(filed_at.hour, filed_at.minute)),
                                     reviewer=reviewer, outcome="inconsistencies", reasons=(reason,)))
        if corrected:
            # The citizen sends the documents the next day; the analyst decides again that day.
            sent = clock.on(decided_day + timedelta(days=1), earliest=time(8, 0))
            commands.append(SendSubsaneDocuments(at=sent, documents=(SUBSANE_DOCUMENTS[reason],)))
            commands.append(DecideReview(at=sent + timedelta(minutes=rng.randint(5, 120)),
                                         reviewer=reviewer, outcome="meets_requirements"))
        return clave, commands
    commands.append(DecideReview(at=clock.on(decided_day, earliest=time(filed_at.hour, filed_at.minute)),
                                 reviewer=reviewer, outcome="meets_requirements"))
    return clave, commands


# The codes of the commands by the report labels of tables 4.2.1 and 4.2.2 (the published targets' keys).
CALL_OUTCOMES = {label: outcome for outcome, label in OUTBOUND_CALL_OUTCOMES.items()}
NOTICE_CHANNELS = {label: channel for channel, label in AUTOMATED_NOTICES.items()}
CALL_CAMPAIGN = "INETEL_LLAMADAS_SALIDA"
NOTICE_CAMPAIGN = "AVISOS_AUTOMATIZADOS_EXTRANJERO"
OPERATORS = [f"inetel.operador.{n:02d}" for n in range(1, 21)]


def outreach_commands(
    targets: dict[str, Any], scenario: Scenario, process: ElectoralProcess, rng: random.Random,
    claves: set[str], inetel_requests: list[tuple[str, FileRequest]],
) -> list[tuple[str, Any]]:
    """The call centre's outbound calls and the automated notices of tables 4.2.1 and 4.2.2:
    each INETEL request came out of a call that registered the citizen (so "Registrado" equals
    the INETEL requests); the other outcomes and the notices reach a pool of CPVE holders who
    did not file a request."""
    calls = targets.get("inetel_outbound_calls")
    notices = targets.get("automated_outbound")
    if not calls or not notices or not scenario.outreach_pool:
        return []
    if calls["Registrado"] != len(inetel_requests):
        raise ValueError(f"the published tables disagree: {calls['Registrado']} registered calls vs "
                         f"{len(inetel_requests)} INETEL requests")
    out: list[tuple[str, Any]] = [
        (clave, RecordOutboundCall(at=request.at, campaign=CALL_CAMPAIGN, outcome=CallOutcome.REGISTERED,
                                   request_command_id=request.effective_id(), recorded_by=rng.choice(OPERATORS)))
        for clave, request in inetel_requests
    ]
    clock = _Clock(process, rng)
    pool: list[str] = []
    while len(pool) < scenario.outreach_pool:
        sex = rng.choice("HM")
        given = rng.choice(people.GIVEN_NAMES[sex])
        birth = people.birth_date_for_age(rng.randint(18, 80), scenario.as_of, rng)
        clave = people.clave_de_elector(rng.choice(people.SURNAMES), rng.choice(people.SURNAMES), given, birth,
                                        f"{rng.randint(1, 32):02d}", sex, rng)
        if clave not in claves:
            claves.add(clave)
            pool.append(clave)
    for label, n in calls.items():
        if label in ("TOTAL", "Registrado"):
            continue
        for _ in range(n):
            at = clock.on(clock.day_between(scenario.filing_from, scenario.as_of))
            call = RecordOutboundCall(at=at, campaign=CALL_CAMPAIGN, outcome=CALL_OUTCOMES[label],
                                      recorded_by=rng.choice(OPERATORS))
            out.append((rng.choice(pool), call))
    for label, n in notices.items():
        if label == "TOTAL":
            continue
        for _ in range(n):
            at = clock.on(clock.day_between(scenario.filing_from, scenario.as_of))
            out.append((rng.choice(pool), SendAutomatedNotice(at=at, campaign=NOTICE_CAMPAIGN,
                                                              channel=NOTICE_CHANNELS[label])))
    return out


def attention_commands(targets: dict[str, Any], scenario: Scenario, process: ElectoralProcess,
                       rng: random.Random) -> list[RecordAttention]:
    """INETEL's attention of report section 4.2: per service, as many contacts as its total,
    their topics, channels and origins drawn so that each breakdown is the published one. They
    name no citizen (the report counts contacts, not citizens)."""
    clock = _Clock(process, rng)
    service_of = {label: service for service, label in ATTENTION_SERVICE_LABELS.items()}
    channel_of = {label: channel for channel, label in ATTENTION_CHANNEL_LABELS.items()}
    origin_of = {label: origin for origin, label in ATTENTION_ORIGIN_LABELS.items()}
    out: list[RecordAttention] = []
    for figures in targets.get("inetel_attention", {}).values():
        service = service_of[figures["label"]]
        topic_of = {label: code for code, label in process.attention_topics[service].items()}
        topics = _expand({topic_of[label]: n for label, n in figures["by_topic"].items()})
        channels = _expand({channel_of[label]: n for label, n in figures["by_channel"].items()})
        origins = _expand({origin_of[label]: n for label, n in figures["by_origin"].items()})
        if not len(topics) == len(channels) == len(origins) == figures["total"]:
            raise ValueError(f"the published attention figures of {figures['label']} do not add up")
        for breakdown in (channels, origins):
            rng.shuffle(breakdown)
        for number, (topic, channel, origin) in enumerate(zip(topics, channels, origins, strict=True), start=1):
            at = clock.on(clock.day_between(scenario.filing_from, scenario.as_of))
            out.append(RecordAttention(at=at, service=service, topic=topic, channel=channel, origin=origin,
                                       command_id=f"attention-{service.value}-{number:06d}",
                                       recorded_by=rng.choice(OPERATORS)))
    return out


def generate(scenario: Scenario, process: ElectoralProcess) -> list[str]:
    """The scenario's command file: one JSON line per command, in business-time order."""
    rng = random.Random(scenario.random_seed)
    targets = load_targets(scenario)
    claves: set[str] = set()
    timed: list[tuple[datetime, int, str]] = []
    inetel_requests: list[tuple[str, FileRequest]] = []
    for plan in plans(targets, process, rng):
        clave, commands = journey_commands(plan, scenario, process, rng, claves)
        for command in commands:
            timed.append((command.at, len(timed), journey_line(process.id, clave, command)))
            if isinstance(command, FileRequest) and command.channel == "INETEL":
                inetel_requests.append((clave, command))
    # Drawn after the journeys, so the journeys stay those of scenarios without outreach.
    for clave, command in outreach_commands(targets, scenario, process, rng, claves, inetel_requests):
        timed.append((command.at, len(timed), journey_line(process.id, clave, command)))
    for attention in attention_commands(targets, scenario, process, rng):
        timed.append((attention.at, len(timed), journey_line(process.id, None, attention)))
    timed.sort(key=lambda t: (t[0], t[1]))
    return [line for _, _, line in timed]
