"""The HTTP API over the real stack: Temporal dev server, worker, projection runner, SQLite
stores, uvicorn on a real port; requests over HTTP with httpx."""

from __future__ import annotations

import asyncio
import csv
import io
import random
from datetime import date

import pytest

from lnere.domain.process import MILESTONE_ORDER
from tests.citizens import at, credential, request

pytestmark = pytest.mark.asyncio(loop_scope="session")


def body(command: dict) -> dict:
    """A CLI/import command as an API body: the API takes the kind from the path."""
    return {k: v for k, v in command.items() if k != "kind"}




async def figures(api, role: str = "viewer", **params) -> dict:
    response = await api.http.get(f"/api/v1/processes/{api.process}/figures", params=params, headers=api.auth(role))
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_citizen_from_phone_request_to_the_definitive_list(api):
    rng = random.Random(7)
    operator, reviewer = api.auth("operator"), api.auth("reviewer")
    cpve = credential(rng, activated=False, birth_date=date(1990, 2, 1))
    clave = cpve["clave"]
    p = f"/api/v1/processes/{api.process}"

    recorded = await api.http.post(f"{p}/credentials", json={"at": at("2020-09-20 09:00").isoformat(),
                                                               "credential": cpve}, headers=operator)
    assert recorded.status_code == 200, recorded.text
    journey = recorded.json()["journey"]
    assert clave not in journey

    # INETEL needs an activated CPVE: refused with the rule, nothing recorded.
    phone = body(request(None, when=at("2020-10-05 11:00"), channel="INETEL", country="ES", state="14"))
    refused = await api.http.post(f"{p}/requests", json={**phone, "clave": clave}, headers=operator)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["type"] == "inetel-needs-activated-cpve"

    activated = await api.http.post(f"/api/v1/journeys/{journey}/credential-activation",
                                    json={"at": at("2020-10-01 10:00").isoformat()}, headers=operator)
    assert activated.status_code == 200, activated.text
    filed = await api.http.post(f"{p}/requests", json={**phone, "clave": clave}, headers=operator)
    assert filed.status_code == 200, filed.text
    assert filed.json()["status"]["stage"] == "in_review"

    # A second citizen, on the web with a CPV sent along with the request.
    cpv = credential(rng, kind="CPV", activated=False, sex="H", birth_date=date(2002, 5, 5))
    web = body(request(cpv, when=at("2020-10-06 12:00"), channel="SRVE", country="US", state="09", modality="internet"))
    other = await api.http.post(f"{p}/requests", json=web, headers=operator)
    assert other.status_code == 200, other.text
    other_journey = other.json()["journey"]

    # The inbox: oldest first, filters, pagination.
    inbox = f"{p}/review-inbox"
    api.stack.wait_for_projection()
    page = (await api.http.get(inbox, headers=reviewer)).json()
    assert [i["journey"] for i in page["items"]] == [journey, other_journey]
    assert page["items"][0] | {"journey": None} == {
        "journey": None, "in_review_since": "2020-10-05T16:00:00.000000Z", "re_review": False,
        "state_of_reference": "14", "country": "ES", "modality": "postal", "channel": "INETEL",
        "credential_kind": "CPVE"}
    first = (await api.http.get(inbox, params={"limit": 1}, headers=reviewer)).json()
    assert [i["journey"] for i in first["items"]] == [journey] and first["next_cursor"]
    second = (await api.http.get(inbox, params={"limit": 1, "after": first["next_cursor"]}, headers=reviewer)).json()
    assert [i["journey"] for i in second["items"]] == [other_journey] and second["next_cursor"] is None
    for params, expected in (({"country": "US"}, [other_journey]), ({"channel": "INETEL"}, [journey]),
                             ({"state_of_reference": "14"}, [journey]), ({"modality": "internet"}, [other_journey]),
                             ({"review": "re_review"}, []), ({"country": "CA"}, [])):
        found = (await api.http.get(inbox, params=params, headers=reviewer)).json()["items"]
        assert [i["journey"] for i in found] == expected, params

    # Review, subsane, re-review.
    decision = {"at": at("2020-10-20 10:00").isoformat(), "outcome": "inconsistencies",
                "reasons": ["ADDRESS_PROOF_MISSING"]}
    decided = await api.http.post(f"/api/v1/journeys/{journey}/review", json=decision, headers=reviewer)
    assert decided.status_code == 200, decided.text
    documents = {"at": at("2020-10-25 10:00").isoformat(), "documents": ["ADDRESS_PROOF"]}
    sent = await api.http.post(f"/api/v1/journeys/{journey}/subsane-documents", json=documents, headers=operator)
    assert sent.status_code == 200, sent.text
    api.stack.wait_for_projection()
    again = (await api.http.get(inbox, params={"review": "re_review"}, headers=reviewer)).json()["items"]
    assert [(i["journey"], i["re_review"], i["in_review_since"]) for i in again] == [
        (journey, True, "2020-10-25T16:00:00.000000Z")]
    ok = {"at": at("2020-11-02 10:00").isoformat(), "outcome": "meets_requirements"}
    assert (await api.http.post(f"/api/v1/journeys/{journey}/review", json=ok, headers=reviewer)).status_code == 200
    no = {"at": at("2020-11-03 10:00").isoformat(), "outcome": "rejected", "reasons": ["NOT_ELIGIBLE"]}
    rejected = await api.http.post(f"/api/v1/journeys/{other_journey}/review", json=no, headers=reviewer)
    assert rejected.status_code == 422 and "NOT_ELIGIBLE" in rejected.json()["detail"][0]["msg"]
    no["reasons"] = ["NOT_IN_REGISTER"]
    rejected = await api.http.post(f"/api/v1/journeys/{other_journey}/review", json=no, headers=reviewer)
    assert rejected.status_code == 200, rejected.text

    # Figures as of two dates, worked out from what this test did.
    api.stack.wait_for_projection()
    oct_31 = (await figures(api, as_of="2020-10-31"))["report"]
    assert oct_31["analysis_status"] == {"received": 2, "meets_requirements": 0, "inconsistencies": 0,
                                         "in_review": 2, "rejected": 0}
    live = await figures(api)
    report = live["report"]
    assert report["as_of"] is None
    assert report["by_channel"] == {"INETEL": 1, "SRVE": 1, "TOTAL": 2}
    assert report["analysis_status"] == {"received": 2, "meets_requirements": 1, "inconsistencies": 0,
                                         "in_review": 0, "rejected": 1}
    assert report["by_sex"] == {"Hombres": 1, "Mujeres": 1, "TOTAL": 2}
    assert live["by_sex_age"]["30-34"] == {"Hombres": 0, "Mujeres": 1}  # born 1990-02-01, filed Oct 2020
    assert live["by_sex_age"]["18"] == {"Hombres": 1, "Mujeres": 0}  # born 2002-05-05
    assert live["filed_per_day"] == {"2020-10-05": 1, "2020-10-06": 1}
    assert live["log_position"] == live["log_head"] == api.stack.registry.recorder.max_notification_id()

    csv_text = (await api.http.get(f"{p}/report", params={"format": "csv", "as_of": "2020-11-30"},
                                   headers=api.auth("viewer"))).text
    rows = {(r["table"], r["row"], r["column"]): int(r["value"]) for r in csv.DictReader(io.StringIO(csv_text))}
    assert rows[("analysis_status", "meets_requirements", "TOTAL")] == 1
    assert rows[("by_channel", "SIILNERE", "TOTAL")] == 2
    markdown = await api.http.get(f"{p}/report", params={"format": "md", "as_of": "2020-11-30"},
                                  headers=api.auth("viewer"))
    assert markdown.headers["content-type"].startswith("text/markdown") and "| SIILNERE | 1 | 1 | 2 |" in markdown.text

    # Who did what is in the events; personal data only through their own endpoint.
    history = (await api.http.get(f"/api/v1/journeys/{journey}/history", headers=reviewer)).json()["events"]
    by_event = {}
    for event in history:
        by_event.setdefault(event["event"], []).append(event.get("recorded_by"))
    assert by_event["CredentialRecorded"] == ["operator.1"]
    assert by_event["CredentialActivated"] == ["operator.1"]
    assert by_event["RequestFiled"] == ["operator.1"]
    assert by_event["ReviewDecided"] == ["reviewer.1", "reviewer.1"]
    assert by_event["SubsaneDocumentsReceived"] == ["operator.1"]
    assert clave not in str(history) and cpve["holder"]["paternal_surname"] not in str(history)
    personal = (await api.http.get(f"/api/v1/journeys/{journey}/personal-data", headers=reviewer)).json()
    assert personal["personal_data"]["credential"]["clave"] == clave and personal["erased"] is False

    # The supervisor fires the calendar to the definitive list.
    supervisor = api.auth("supervisor")
    for milestone in ("registration_closed", "inconsistency_notice_deadline", "analysis_deadline",
                      "list_for_review_issued", "observations_closed", "definitive_list"):
        fired = await api.http.post(f"{p}/milestones/{milestone}", json={}, headers=supervisor)
        assert fired.status_code == 200, fired.text
        assert fired.json()["fired_by"] == "supervisor.1"
    status = (await api.http.get(f"/api/v1/journeys/{journey}", headers=operator)).json()["status"]
    assert status["stage"] == "included"
    # An ended journey answers by its rules: 409, not a lost command (the calendar closed the
    # analysis before the journey's stage is even looked at).
    late = await api.http.post(f"/api/v1/journeys/{journey}/review",
                               json=ok | {"at": at("2021-05-01 10:00").isoformat()}, headers=reviewer)
    assert late.status_code == 409 and late.json()["rule"] == "analysis-closed", late.text
    api.stack.wait_for_projection()
    assert (await figures(api))["report"]["stages"]["included"] == 1


async def test_two_reviewers_deciding_at_once_one_wins(api):
    rng = random.Random(8)
    citizen = credential(rng)
    filed = await api.http.post(f"/api/v1/processes/{api.process}/requests",
                                json=body(request(citizen, when=at("2020-10-05 10:00"))), headers=api.auth("operator"))
    journey = filed.json()["journey"]
    first = {"at": at("2020-10-20 10:00").isoformat(), "outcome": "meets_requirements"}
    second = {"at": at("2020-10-20 10:00").isoformat(), "outcome": "inconsistencies", "reasons": ["DATA_MISMATCH"]}
    sent = ((first, "reviewer"), (second, "reviewer.2"))
    answers = await asyncio.gather(*(
        api.http.post(f"/api/v1/journeys/{journey}/review", json=decision, headers=api.auth(who))
        for decision, who in sent))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    loser = next(a for a in answers if a.status_code == 409).json()
    assert loser["rule"] == "wrong-stage"
    decisions = [e for e in api.stack.registry.history(journey) if type(e).__name__ == "ReviewDecided"]
    assert len(decisions) == 1
    winner = next(a for a in answers if a.status_code == 200).json()
    assert decisions[0].outcome == winner["status"]["stage"]
    # The winner's decision sent again by the winner is the same command: answered, not
    # recorded twice (the reviewer is part of the decision, so the loser's resend is refused).
    decision, who = next(pair for pair, answer in zip(sent, answers, strict=True) if answer.status_code == 200)
    same = await api.http.post(f"/api/v1/journeys/{journey}/review", json=decision, headers=api.auth(who))
    assert same.status_code == 200, same.text
    assert len([e for e in api.stack.registry.history(journey) if type(e).__name__ == "ReviewDecided"]) == 1


async def test_figures_long_poll_answers_when_an_event_arrives(api):
    before = await figures(api)
    waiting = asyncio.create_task(figures(api, after=before["log_position"], wait=20))
    await asyncio.sleep(0.5)
    assert not waiting.done()  # nothing new: it waits
    rng = random.Random(9)
    citizen = credential(rng)
    await api.http.post(f"/api/v1/processes/{api.process}/requests",
                        json=body(request(citizen, when=at("2020-10-05 10:00"))), headers=api.auth("operator"))
    after = await asyncio.wait_for(waiting, 10)
    assert after["log_position"] > before["log_position"]
    assert after["report"]["by_channel"]["TOTAL"] == before["report"]["by_channel"]["TOTAL"] + 1


async def test_inetel_attention_is_recorded_once_counted_and_refused_with_its_rule(api):
    operator = api.auth("operator")
    url = f"/api/v1/processes/{api.process}/attentions"
    when = at("2020-10-20 10:00").isoformat()
    anonymous = {"at": when, "service": "vmre", "topic": "VOTE_INTENTION", "channel": "facebook",
                 "origin": "elsewhere_abroad", "command_id": "ticket-0001"}
    first = await api.http.post(url, json=anonymous, headers=operator)
    assert first.status_code == 200 and first.json()["already_recorded"] is False, first.text
    again = await api.http.post(url, json=anonymous, headers=operator)
    assert again.status_code == 200 and again.json()["already_recorded"] is True, again.text
    named = anonymous | {"command_id": "ticket-0002", "service": "credentialing_abroad", "topic": "CONSULATE_INFO",
                         "channel": "telephone", "origin": "united_states",
                         "clave": credential(random.Random(41))["clave"]}
    assert (await api.http.post(url, json=named, headers=operator)).status_code == 200
    head = api.stack.registry.recorder.max_notification_id()

    # Refused, naming the field and the rule; nothing recorded.
    wrong_topic = anonymous | {"command_id": "ticket-0003", "topic": "CONSULATE_INFO"}  # a topic of the other service
    answer = await api.http.post(url, json=wrong_topic, headers=operator)
    assert answer.status_code == 422 and answer.json()["detail"][0]["type"] == "attention-topic", answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "topic"]
    unknown_channel = anonymous | {"command_id": "ticket-0004", "channel": "carrier pigeon"}
    answer = await api.http.post(url, json=unknown_channel, headers=operator)
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "channel"], answer.text
    reused = anonymous | {"origin": "mexico"}  # ticket-0001 again, other content
    answer = await api.http.post(url, json=reused, headers=operator)
    assert answer.status_code == 409 and answer.json()["rule"] == "command-id-reused", answer.text
    future = anonymous | {"command_id": "ticket-0005", "at": "2999-01-01T00:00:00+00:00"}
    assert (await api.http.post(url, json=future, headers=operator)).status_code == 422
    assert (await api.http.post(url, json=anonymous, headers=api.auth("viewer"))).status_code == 403
    assert api.stack.registry.recorder.max_notification_id() == head

    # Counted in the report's section 4.2.
    for _ in range(100):
        report = (await api.http.get(f"/api/v1/processes/{api.process}/report", params={"format": "json"},
                                     headers=operator)).json()
        if report["log_position"] >= head:
            break
        await asyncio.sleep(0.1)
    vmre = report["inetel_attention"]["vmre"]
    assert (vmre["total"], vmre["by_channel"]["Facebook"], vmre["by_origin"]["Diversas partes del mundo"],
            vmre["by_topic"]["Intención de manifestación del voto"]) == (1, 1, 1, 1)
    credentialing = report["inetel_attention"]["credentialing_abroad"]
    assert (credentialing["total"], credentialing["by_channel"]["Vía telefónica"]) == (1, 1)


async def test_a_cpve_sent_again_until_it_is_activated(api):
    """A command added in three files (its model and declaration, its rule, its effect): its
    route, roles and body come from the declaration."""
    operator = api.auth("operator")
    cpve = credential(random.Random(43), activated=False)
    recorded = await api.http.post(f"/api/v1/processes/{api.process}/credentials", headers=operator,
                                   json={"at": at("2020-09-20 09:00").isoformat(), "credential": cpve})
    journey = recorded.json()["journey"]
    resend = f"/api/v1/journeys/{journey}/commands/resend_credential"
    sent = await api.http.post(resend, json={"at": at("2020-09-28 10:00").isoformat(), "reason": "returned"},
                               headers=operator)
    assert sent.status_code == 200, sent.text
    unknown = await api.http.post(resend, json={"at": at("2020-09-29 10:00").isoformat(), "reason": "lost"},
                                  headers=operator)
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "reason"]
    assert (await api.http.post(resend, json={"at": at("2020-09-29 10:00").isoformat(), "reason": "returned"},
                                headers=api.auth("reviewer"))).status_code == 403
    await api.http.post(f"/api/v1/journeys/{journey}/credential-activation",
                        json={"at": at("2020-10-01 10:00").isoformat()}, headers=operator)
    late = await api.http.post(resend, json={"at": at("2020-10-02 10:00").isoformat(), "reason": "damaged"},
                               headers=operator)
    assert late.status_code == 409 and late.json()["rule"] == "cpve-resend", late.text
    history = (await api.http.get(f"/api/v1/journeys/{journey}/history", headers=api.auth("reviewer"))).json()
    assert [e["event"] for e in history["events"]].count("CredentialResent") == 1


async def test_the_cpve_life_from_its_request_to_a_request_and_its_statistics(api):
    """A CPVE requested at a consulate, produced, shipped, delivered, activated, then a phone
    request; another not collected, cancelled after its safekeeping and refused at INETEL; every
    step out of order refused; the statistics by state and consulate counted from these facts."""
    operator, supervisor = api.auth("operator"), api.auth("supervisor")
    rng = random.Random(47)
    start = f"/api/v1/processes/{api.process}/commands/request_cpve"

    async def send(path: str, payload: dict, who=operator, expect: int = 200) -> dict:
        answer = await api.http.post(path, json=payload, headers=who)
        assert answer.status_code == expect, (path, answer.text)
        return answer.json()

    def when(text: str) -> str:
        return at(text).isoformat()

    first, second = credential(rng, activated=False), credential(rng, activated=False)
    journey = (await send(start, {"at": when("2020-09-02 10:00"), "credential": first, "office": "CONS_CHICAGO",
                                  "state_of_reference": "14"}))["journey"]
    steps = f"/api/v1/journeys/{journey}/commands/record_cpve_step"
    refused = await send(steps, {"at": when("2020-09-03 10:00"), "step": "shipped"}, expect=409)
    assert refused["rule"] == "cpve-step-order"
    await send(steps, {"at": when("2020-09-04 10:00"), "step": "produced"})
    await send(steps, {"at": when("2020-09-20 10:00"), "step": "shipped"})
    activation = f"/api/v1/journeys/{journey}/credential-activation"
    assert (await send(activation, {"at": when("2020-09-21 10:00")}, expect=409))["rule"] == "cpve-activation"
    await send(steps, {"at": when("2020-10-02 10:00"), "step": "delivered"})
    await send(activation, {"at": when("2020-10-03 10:00")})
    phone = body(request(None, when=at("2020-10-04 10:00"), channel="INETEL", country="US", state="14"))
    filed = await send(f"/api/v1/processes/{api.process}/requests", {**phone, "clave": first["clave"]})
    assert filed["status"]["stage"] == "in_review" and filed["status"]["cpve_step"] == "activated"

    # Not collected: kept 730 days from its request, then cancelled; it cannot register.
    other = (await send(start, {"at": when("2018-08-01 10:00"), "credential": second, "office": "EMB_MADRID",
                                "state_of_reference": "09"}))["journey"]
    cancel = f"/api/v1/journeys/{other}/commands/cancel_cpve"
    early = await send(cancel, {"at": when("2020-07-30 10:00")}, who=supervisor, expect=422)
    assert early["detail"][0]["type"] == "cpve-safekeeping"
    assert (await api.http.post(cancel, json={"at": when("2020-08-02 10:00")}, headers=operator)).status_code == 403
    await send(cancel, {"at": when("2020-08-02 10:00")}, who=supervisor)
    phone = body(request(None, when=at("2020-10-05 10:00"), channel="INETEL", country="ES", state="09"))
    cancelled = await send(f"/api/v1/processes/{api.process}/requests", {**phone, "clave": second["clave"]},
                           expect=409)
    assert cancelled["rule"] == "cpve-cancelled"

    # Bad input: an office not in the catalogue, a CPV, nothing recorded.
    head = api.stack.registry.recorder.max_notification_id()
    third = credential(rng, activated=False)
    unknown = await send(start, {"at": when("2020-09-02 10:00"), "credential": third, "office": "CONS_ATLANTIS",
                                 "state_of_reference": "14"}, expect=422)
    assert unknown["detail"][0]["loc"] == ["body", "office"]
    cpv = credential(rng, kind="CPV", activated=False)
    assert (await send(start, {"at": when("2020-09-02 10:00"), "credential": cpv, "office": "CONS_CHICAGO",
                               "state_of_reference": "14"}, expect=422))["detail"][0]["type"] == "cpve-request"
    assert api.stack.registry.recorder.max_notification_id() == head

    # The statistics, as of two dates.
    api.stack.wait_for_projection()

    async def credentialing(as_of: str) -> dict:
        report = (await api.http.get(f"/api/v1/processes/{api.process}/report",
                                     params={"format": "json", "as_of": as_of}, headers=operator)).json()
        return report["credentialing"]

    september = await credentialing("2020-09-30")
    assert september["by_office"]["Consulado General de México en Chicago"] == {
        "Tramitadas": 1, "Producidas": 1, "Enviadas": 1, "Entregadas": 0, "Activadas": 0, "Canceladas": 0}
    assert september["by_office"]["Embajada de México en España"]["Canceladas"] == 1
    october = await credentialing("2020-10-31")
    jalisco = next(name for name in october["by_state"] if name.startswith("Jalisco"))
    assert october["by_state"][jalisco] == {
        "Tramitadas": 1, "Producidas": 1, "Enviadas": 1, "Entregadas": 1, "Activadas": 1, "Canceladas": 0}
    assert october["by_state"]["TOTAL"]["Tramitadas"] == 2 and october["by_state"]["TOTAL"]["Canceladas"] == 1

    # On to the definitive list: the CPVE's holder is included and gets a postal package.
    decided = await send(f"/api/v1/journeys/{journey}/review", {"at": when("2020-10-20 10:00"),
                                                                "outcome": "meets_requirements"},
                         who=api.auth("reviewer"))
    assert decided["status"]["stage"] == "meets_requirements"
    for milestone in MILESTONE_ORDER:
        await send(f"/api/v1/processes/{api.process}/milestones/{milestone.value}", {}, who=supervisor)
    status = (await api.http.get(f"/api/v1/journeys/{journey}", headers=operator)).json()["status"]
    assert (status["stage"], status["delivery"], status["cpve_step"]) == ("included", "postal_sent", "activated")
