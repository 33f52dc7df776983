"""INETEL's outbound call campaigns as work (issue 17, part 3), through the HTTP API on the real
stack: built from the registry, split into call lists, worked by two operators at once — no
citizen called twice unless they will be called back, a deceased citizen never again — each
outcome counted in table 4.2.1, a *Registrado* call filing the request in the same step, and
every refusal recording nothing."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict

import pytest

from lnere.projections.report import OUTBOUND_CALL_OUTCOMES
from tests.citizens import at, credential, request

pytestmark = pytest.mark.asyncio(loop_scope="session")


def when(text: str) -> str:
    return at(text).isoformat()


def _body(req: dict) -> dict:
    return {k: v for k, v in req.items() if k not in ("kind", "credential", "at")}


async def test_a_campaign_worked_by_two_operators_calls_no_one_twice_and_flows_into_table_4_2_1(api):
    from lnere.application.staff import StaffDirectory
    from lnere.domain.roles import Role

    http, process = api.http, api.process
    operator, supervisor = api.auth("operator"), api.auth("supervisor")
    second = {"Authorization": "Bearer " + StaffDirectory(api.stack.settings.staff_path).add("operator.2",
                                                                                             Role.OPERATOR)}
    rng = random.Random(42)

    async def post(path: str, payload: dict, who=operator, expect: int = 200):
        answer = await http.post(path, json=payload, headers=who)
        assert answer.status_code == expect, (path, answer.text)
        return answer.json() if answer.content else None

    # CPVE holders with an activated credential and no request: five recorded, two whose CPVE
    # was requested for Michoacán; and three who are not: not activated, a CPV, a request filed.
    holders = []
    for _ in range(5):
        citizen = credential(rng)
        holders.append((await post(f"/api/v1/processes/{process}/credentials",
                                   {"at": when("2020-09-05 10:00"), "credential": citizen}))["journey"])
    michoacan = []
    for _ in range(2):
        citizen = credential(rng, activated=False)
        journey = (await post(f"/api/v1/processes/{process}/commands/request_cpve", {
            "at": when("2020-09-02 10:00"), "credential": citizen, "office": "CONS_CHICAGO",
            "state_of_reference": "16"}))["journey"]
        for step, day in (("produced", "04"), ("shipped", "10"), ("delivered", "20")):
            await post(f"/api/v1/journeys/{journey}/commands/record_cpve_step",
                       {"at": when(f"2020-09-{day} 10:00"), "step": step})
        await post(f"/api/v1/journeys/{journey}/credential-activation", {"at": when("2020-09-21 10:00")})
        michoacan.append(journey)
    await post(f"/api/v1/processes/{process}/credentials",
               {"at": when("2020-09-05 10:00"), "credential": credential(rng, activated=False)})
    await post(f"/api/v1/processes/{process}/credentials",
               {"at": when("2020-09-05 10:00"), "credential": credential(rng, kind="CPV", activated=False)})
    filer = credential(rng)
    filed = (await post(f"/api/v1/processes/{process}/requests",
                        {**_body(request(filer, when=at("2020-09-06 10:00"))), "credential": filer,
                         "at": when("2020-09-06 10:00")}))
    api.stack.wait_for_projection()

    campaigns = f"/api/v1/processes/{process}/campaigns"
    by_state = await post(campaigns, {"code": "CPVE_16", "name": "Michoacán", "at": when("2020-10-01 09:00"),
                                      "source": "cpve_without_request", "states": ["16"]}, who=supervisor)
    assert by_state["citizens"] == 2
    built = await post(campaigns, {"code": "CPVE_OCT", "name": "CPVE sin solicitud", "at": when("2020-10-01 09:00"),
                                   "source": "cpve_without_request", "list_size": 3}, who=supervisor)
    assert (built["citizens"], built["lists"]) == (7, 3)
    assert (await post(campaigns, {"code": "CPVE_OCT", "name": "again", "at": when("2020-10-01 09:00"),
                                   "source": "cpve_without_request"}, who=supervisor, expect=409))["rule"] == \
        "campaign-exists"
    assert (await http.post(campaigns, json={"code": "X", "name": "x", "at": when("2020-10-01 09:00"),
                                             "source": "cpve_without_request"}, headers=operator)).status_code == 403

    work = f"{campaigns}/CPVE_OCT"
    head = api.stack.registry.recorder.max_notification_id

    # Refused, recording nothing: a citizen not on the lists, one another operator is calling.
    first = await post(f"{work}/next", {"at": when("2020-10-02 10:00")})
    before = head()
    assert (await post(f"{work}/calls/{filed['journey']}", {"at": when("2020-10-02 10:05"), "outcome": "informed"},
                       expect=404))["rule"] == "call-not-on-list"
    assert (await post(f"{work}/calls/{first['journey']}", {"at": when("2020-10-02 10:05"), "outcome": "informed"},
                       who=second, expect=409))["rule"] == "call-not-assigned"
    assert (await post(f"{work}/calls/{first['journey']}", {"at": when("2020-10-02 10:05"), "outcome": "registered"},
                       expect=422))["detail"][0]["type"] == "call-registers-request"
    assert head() == before

    outcomes = iter(["registered", "will_call_back", "citizen_deceased", "informed", "no_answer",
                     "no_intention_to_vote", "voicemail_or_third_party", "informed", "informed"])
    calls: list[tuple[str, str, str]] = []
    lock = asyncio.Lock()

    async def work_as(who: dict, name: str) -> None:
        minute = 0
        while True:
            minute += 1
            answer = await http.post(f"{work}/next", json={"at": when(f"2020-10-03 10:{minute:02d}")}, headers=who)
            if answer.status_code == 204:
                return
            assert answer.status_code == 200, answer.text
            journey = answer.json()["journey"]
            async with lock:
                outcome = next(outcomes)
                calls.append((journey, name, outcome))
            payload = {"at": when(f"2020-10-03 11:{minute:02d}"), "outcome": outcome}
            if outcome == "registered":
                payload["request"] = _body(request(None, when=at("2020-10-03 11:00"), state="16"))
            answer = await http.post(f"{work}/calls/{journey}", json=payload, headers=who)
            assert answer.status_code == 200, answer.text

    await asyncio.gather(work_as(operator, "operator.1"), work_as(second, "operator.2"))
    by_journey: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for journey, name, outcome in calls:
        by_journey[journey].append((name, outcome))
    assert set(by_journey) == set(holders) | set(michoacan)  # everyone on the lists called
    for made in by_journey.values():
        assert len({name for name, _ in made}) == 1  # one list, one operator
        expected = 2 if made[0][1] == "will_call_back" else 1  # called again only when they asked
        assert len(made) == expected, made
    assert {name for _, name, _ in calls} == {"operator.1", "operator.2"}  # both worked
    # A second outcome for one call: refused, nothing recorded.
    done_journey = calls[-1][0]
    before = head()
    assert (await post(f"{work}/calls/{done_journey}", {"at": when("2020-10-04 10:00"), "outcome": "informed"},
                       expect=409))["rule"] == "call-completed"
    assert head() == before

    # Each citizen's data given to an operator is a read, listed for a supervisor.
    reads = (await http.get(f"/api/v1/journeys/{calls[0][0]}/reads", headers=supervisor)).json()
    assert {(r["staff"], r["what"]) for r in reads} == {(calls[0][1], "personal_data")}

    # The registered citizen's request was filed in the same step.
    registered = next(j for j, _, o in calls if o == "registered")
    status = (await http.get(f"/api/v1/journeys/{registered}", headers=operator)).json()
    assert status["status"]["stage"] == "in_review"
    # Table 4.2.1 counts the outcomes recorded; the campaign's progress in the report.
    api.stack.wait_for_projection()
    report = (await http.get(f"/api/v1/processes/{process}/report")).json()
    recorded = Counter(OUTBOUND_CALL_OUTCOMES[o] for _, _, o in calls)
    assert {k: v for k, v in report["inetel_outbound_calls"].items() if v and k != "TOTAL"} == dict(recorded)
    assert report["campaigns"]["CPVE_OCT"] == {
        "Llamadas realizadas": len(calls), "Ciudadanos llamados": 7,
        "Ciudadanos contactados": sum(1 for _, _, o in calls if o in ("registered", "informed",
                                                                     "no_intention_to_vote")),
        "Registrados": 1}
    progress = (await http.get(work, headers=operator)).json()["progress"]
    assert (progress["called"], progress["registered"], progress["pending"]) == (7, 1, 0)
    # A later campaign leaves out the deceased citizen (and the one who registered).
    deceased = next(j for j, _, o in calls if o == "citizen_deceased")
    later = await post(campaigns, {"code": "CPVE_NOV", "name": "otra", "at": when("2020-11-01 09:00"),
                                   "source": "cpve_without_request"}, who=supervisor)
    assert later["citizens"] == 5
    lists = api.stack.registry.call_lists(api.stack.registry.campaign(process, "CPVE_NOV"))
    assert deceased not in {j for lst in lists for j in lst.outcomes}
    assert registered not in {j for lst in lists for j in lst.outcomes}
