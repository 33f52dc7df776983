"""Every malformed command is refused with a message naming the field and the rule, and
nothing is recorded in the (real, SQLite) event store."""

from __future__ import annotations

import random
from datetime import date

import pytest
from pydantic import ValidationError

from lnere.domain.commands import CommandEnvelope
from lnere.domain.identity import journey_workflow_id
from lnere.domain.process import ProcessCatalog
from lnere.domain.rules import DomainError
from lnere.store.registry import JourneyRegistry
from tests.citizens import at, credential, request

pytestmark = pytest.mark.fast

PROCESS = ProcessCatalog.load().get("pel-2020-2021")


def _cpve(**kwargs):
    return credential(random.Random(7), **kwargs)


def _case(mutate):
    cred = _cpve()
    body = request(cred, when=at("2020-10-05 10:00"))
    mutate(body)
    return body


BAD_REQUESTS = {
    "bad clave": (lambda b: b["credential"].update(clave="ABC123"), "clave", "18 characters"),
    "clave with impossible date": (
        lambda b: b["credential"].update(clave=b["credential"]["clave"][:6] + "801345" + b["credential"]["clave"][12:]),
        "clave", "impossible birth date",
    ),
    "clave inconsistent with birth date": (
        lambda b: b["credential"]["holder"].update(birth_date="1981-07-05"),
        "clave", "does not match holder.birth_date",
    ),
    "clave inconsistent with sex": (
        lambda b: b["credential"]["holder"].update(sex="H"), "clave", "does not match holder.sex",
    ),
    "state without VMRE": (lambda b: b.update(state_of_reference="01"), "state_of_reference", "state-with-vmre"),
    "unknown state": (lambda b: b.update(state_of_reference="99"), "state_of_reference", "state-with-vmre"),
    "country not ISO": (lambda b: b.update(country="XX"), "country", "ISO 3166-1"),
    "country not abroad": (lambda b: b.update(country="MX"), "country", "abroad"),
    "filed before the window": (lambda b: b.update(at=at("2020-08-31 23:00").isoformat()), "at", "registration-window"),
    "filed after the window": (lambda b: b.update(at=at("2021-03-10 12:01").isoformat()), "at", "registration-window"),
    "INETEL with a CPV": (
        lambda b: b.update(credential=_cpve(kind="CPV", activated=False)), "channel", "inetel-needs-cpve",
    ),
    "INETEL with an unactivated CPVE": (
        lambda b: b.update(credential=_cpve(activated=False)), "credential.activated_on", "inetel-needs-activated-cpve",
    ),
    "missing modality": (lambda b: b.pop("modality"), "modality", "Field required"),
    "modality not of the process": (lambda b: b.update(modality="in_person"), "modality", "process-modality"),
    "under-age on election day": (
        lambda b: b.update(credential=_cpve(birth_date=date(2003, 6, 7))),
        "credential.holder.birth_date", "adult-on-election-day",
    ),
    "expired credential": (
        lambda b: b.update(credential=_cpve(valid_until=date(2020, 1, 1))),
        "credential.valid_until", "valid-credential",
    ),
    "no contact": (lambda b: b.update(contact={}), "contact", "e-mail or a phone"),
    "business time without offset": (lambda b: b.update(at="2020-10-05T10:00:00"), "at", "timezone"),
}


@pytest.fixture
def registry(settings):
    app = JourneyRegistry(env=settings.event_store_env())
    yield app
    app.close()


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_request_is_refused_naming_field_and_rule(case, registry, settings):
    mutate, field, rule = BAD_REQUESTS[case]
    body = _case(mutate)
    with pytest.raises((ValidationError, DomainError)) as refused:
        envelope = CommandEnvelope.model_validate(
            {"process": PROCESS.id, "clave": body.get("credential", {}).get("clave", "X"), "command": body}
        )
        workflow_id = journey_workflow_id(settings.journey_key_bytes, PROCESS.id, envelope.clave)
        registry.execute(PROCESS, workflow_id, envelope.command)
    message = str(refused.value)
    assert field in message
    assert rule in message
    assert not registry.recorder.max_notification_id(), "a refused command recorded events"


def test_a_valid_request_is_recorded(registry, settings):
    """The baseline the cases above mutate is itself valid."""
    body = _case(lambda b: None)
    envelope = CommandEnvelope.model_validate(
        {"process": PROCESS.id, "clave": body["credential"]["clave"], "command": body})
    workflow_id = journey_workflow_id(settings.journey_key_bytes, PROCESS.id, envelope.clave)
    status = registry.execute(PROCESS, workflow_id, envelope.command)
    assert status.stage == "in_review"
    assert [type(e).__name__ for e in registry.history(workflow_id)] == [
        "Started", "CredentialRecorded", "CredentialActivated", "RequestFiled",
    ]


def test_review_rules(registry, settings):
    body = _case(lambda b: None)
    envelope = CommandEnvelope.model_validate(
        {"process": PROCESS.id, "clave": body["credential"]["clave"], "command": body})
    wid = journey_workflow_id(settings.journey_key_bytes, PROCESS.id, envelope.clave)
    registry.execute(PROCESS, wid, envelope.command)

    def decide(**fields):
        command = CommandEnvelope.model_validate(
            {"process": PROCESS.id, "journey": wid, "command": {"kind": "decide_review", **fields}}
        ).command
        return registry.execute(PROCESS, wid, command)

    base = {"at": at("2020-10-20 10:00").isoformat(), "reviewer": "derfe.1"}
    with pytest.raises(DomainError, match=r"reasons: unknown inconsistencies reason code\(s\) NOPE.*\[reason-codes\]"):
        decide(**base, outcome="inconsistencies", reasons=["NOPE"])
    with pytest.raises(DomainError, match=r"\[reason-codes\]"):
        decide(**base, outcome="rejected")
    with pytest.raises(ValidationError, match="reviewer"):
        decide(at=base["at"], reviewer="", outcome="meets_requirements")
    with pytest.raises(DomainError, match=r"at: .* before the journey's last event .*\[business-time-order\]"):
        decide(at=at("2020-10-01 10:00").isoformat(), reviewer="derfe.1", outcome="meets_requirements")
    with pytest.raises(DomainError, match=r"\[analysis-period\]"):
        decide(at=at("2021-03-21 10:00").isoformat(), reviewer="derfe.1", outcome="meets_requirements")
    version = registry.status(wid).version
    assert decide(**base, outcome="inconsistencies", reasons=["ADDRESS_PROOF_MISSING"]).stage == "inconsistencies"
    assert registry.status(wid).version == version + 2  # ReviewDecided + SubsaneRequested
    with pytest.raises(DomainError, match=r"\[wrong-stage\]"):
        decide(**base, outcome="meets_requirements")


@pytest.mark.parametrize("change, field, reason", [
    (lambda d: d["modality_labels"].pop("internet"), "modality_labels", "no label for internet"),
    (lambda d: d["modalities"].append("by_pigeon"), "modalities.2", "Input should be"),
    (lambda d: d["consular_offices"]["CONS_CHICAGO"].pop("city"), "consular_offices.CONS_CHICAGO.city", "required"),
    (lambda d: d["attention_topics"].update({"radio": {}}), "attention_topics.radio", "Input should be"),
])
def test_a_malformed_process_file_is_refused_at_start_naming_file_field_and_reason(tmp_path, change, field, reason):
    import json

    from lnere.domain.process import BUILTIN_PROCESSES_DIR, load_process_file

    data = json.loads((BUILTIN_PROCESSES_DIR / "pel-2020-2021.json").read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        load_process_file(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and field in message and reason in message, message
    with pytest.raises(ValueError):
        ProcessCatalog.load(tmp_path, strict=True)  # lnere up's check refuses it too, at start
    served = ProcessCatalog.load(tmp_path)  # a running component skips it, named, and serves the rest
    assert list(served.skipped) == [str(path)] and served.get("pel-2020-2021")


@pytest.mark.parametrize("modality, country, site, rule", [
    ("in_person", "US", None, "voting-site"),  # in person names its site
    ("in_person", "US", "SITE_NOWHERE", "voting-site"),  # one of the process's
    ("in_person", "AR", "SITE_CHICAGO", "voting-site-country"),  # in the country of residence
    ("postal", "US", "SITE_CHICAGO", "voting-site"),  # only in person names a site
])
def test_in_person_voting_names_a_site_of_the_country_of_residence(registry, settings, modality, country, site, rule):
    federal = ProcessCatalog.load().get("pef-2023-2024")
    body = _case(lambda b: b.update(at="2023-10-02T10:00:00-06:00", state_of_reference="14", country=country,
                                    modality=modality, **({"voting_site": site} if site else {})))
    envelope = CommandEnvelope.model_validate({"process": federal.id, "clave": body["credential"]["clave"],
                                               "command": body})
    workflow_id = journey_workflow_id(settings.journey_key_bytes, federal.id, envelope.clave)
    with pytest.raises(DomainError) as refused:
        registry.execute(federal, workflow_id, envelope.command)
    assert refused.value.refusal.field == "voting_site" and refused.value.refusal.rule == rule
    assert not registry.recorder.max_notification_id()
    good = type(envelope.command).model_validate(envelope.command.model_dump() | {
        "country": "US", "modality": "in_person", "voting_site": "SITE_CHICAGO"})
    assert registry.execute(federal, workflow_id, good).stage == "in_review"


def test_a_data_dir_keeps_the_processes_it_ran_with(tmp_path):
    """`lnere up` with LNERE_PROCESSES_DIR keeps a copy of its files in the data dir: later
    commands on that data dir know those processes without the variable; a malformed file stops
    it, named."""
    import json

    from lnere.application.gateway import keep_processes, load_processes
    from lnere.domain.process import BUILTIN_PROCESSES_DIR
    from lnere.settings import Settings

    data = json.loads((BUILTIN_PROCESSES_DIR / "pel-2020-2021.json").read_text(encoding="utf-8"))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "own.json").write_text(json.dumps(data | {"id": "pel-own-2020"}), encoding="utf-8")
    with_variable = Settings(data_dir=tmp_path / "data", processes_dir=mine)
    assert keep_processes(with_variable) == ["pel-own-2020"]
    without = Settings(data_dir=tmp_path / "data")
    assert load_processes(without).get("pel-own-2020").name == data["name"]
    with pytest.raises(KeyError):
        load_processes(Settings(data_dir=tmp_path / "other")).get("pel-own-2020")
    (mine / "broken.json").write_text(json.dumps(data | {"id": "pel-broken", "modality_labels": {}}),
                                      encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json: modality_labels"):
        keep_processes(with_variable)
