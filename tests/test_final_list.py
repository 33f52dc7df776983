"""The final lists end to end on the real stack: a population imported from a command file up to
the list for review, party observations through the API (in and out of the window), a registral
check batch with an unknown citizen, the definitive list; list cuts, exports and their hashes,
departures, and the report's final-list tables, each expected figure counted by this test from
the command file alone."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from datetime import date, datetime, timedelta

from lnere.application.importer import run_import
from lnere.domain.identity import journey_workflow_id
from lnere.projections import lists
from lnere.simulation import people
from tests.citizens import MEXICO_CITY, at

STATES = ["03", "08", "09", "14", "16"]
MODALITIES = ["postal", "internet"]


def population(process: str, rng: random.Random, citizens: int) -> tuple[list[dict], dict[str, dict]]:
    """Command lines up to the list for review, and what each citizen is (state, modality,
    whether the request meets the requirements)."""
    lines: list[dict] = []
    facts: dict[str, dict] = {}
    for _ in range(citizens):
        sex = rng.choice("HM")
        filed = datetime(2020, 10, 1, 10, 0, tzinfo=MEXICO_CITY) + timedelta(days=rng.randrange(60),
                                                                              minutes=rng.randrange(600))
        birth = people.birth_date_for_age(rng.randint(18, 80), filed.date(), rng)
        given, paternal, maternal = rng.choice(["Ana", "Luis", "Eva"]), rng.choice(people.SURNAMES), "Ruiz"
        clave = people.clave_de_elector(paternal, maternal, given, birth, "09", sex, rng)
        while clave in facts:
            clave = people.clave_de_elector(paternal, maternal, given, birth, "09", sex, rng)
        state, modality = rng.choice(STATES), rng.choice(MODALITIES)
        meets = rng.random() < 0.8
        facts[clave] = {"state": state, "modality": modality, "meets": meets, "names": (paternal, maternal, given)}
        credential = {"kind": "CPV", "clave": clave, "issued_on": "2019-01-10", "valid_until": "2029-12-31",
                      "holder": {"given_names": given, "paternal_surname": paternal, "maternal_surname": maternal,
                                 "birth_date": birth.isoformat(), "sex": sex}}

        def line(moment: datetime, command: dict, clave: str = clave) -> None:
            lines.append({"process": process, "clave": clave, "command": {"at": moment.isoformat(), **command}})

        line(filed, {"kind": "file_request", "channel": "SRVE", "state_of_reference": state, "country": "US",
                     "address": {"street": "1 Main St", "city": "Dallas", "postal_code": "75201"},
                     "contact": {"email": "c@example.org"}, "modality": modality, "credential": credential})
        outcome = {"outcome": "meets_requirements"} if meets else {"outcome": "inconsistencies",
                                                                   "reasons": ["DATA_MISMATCH"]}
        line(filed + timedelta(days=3), {"kind": "decide_review", "reviewer": "derfe.1", **outcome})
    for milestone in ("registration_closed", "inconsistency_notice_deadline", "analysis_deadline",
                      "list_for_review_issued"):
        lines.append({"process": process, "command": {"kind": "fire_milestone", "milestone": milestone}})
    return lines, facts


async def test_from_the_list_for_review_to_the_definitive_list(api, tmp_path):
    rng = random.Random(5)
    lines, facts = population(api.process, rng, 40)
    stack = api.stack
    path = tmp_path / "population.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    summary = await run_import(path, stack.journeys, stack.settings.data_dir / "imports", tmp_path / "rejects.jsonl")
    assert summary.refused == 0, summary
    journey_of = {clave: journey_workflow_id(stack.settings.journey_key_bytes, api.process, clave) for clave in facts}
    listed = [c for c, f in facts.items() if f["meets"]]

    # The list for review was cut at its milestone: per state, those meeting the requirements.
    cuts = (await api.http.get(f"/api/v1/processes/{api.process}/lists", headers=api.auth("viewer"))).json()
    assert [c["kind"] for c in cuts] == ["review"]
    review = cuts[0]
    assert review["citizens"] == len(listed)
    expected_per_state = Counter(facts[c]["state"] for c in listed)
    assert {p["state"]: p["citizens"] for p in review["parts"] if p["citizens"]} == dict(expected_per_state)

    # A party exports its list: the hash is the cut's, and stays the same when exported again.
    party = api.auth("party")
    url = f"/api/v1/processes/{api.process}/lists/review/09"
    first, second = await api.http.get(url, headers=party), await api.http.get(url, headers=party)
    assert first.status_code == 200, first.text
    assert first.headers["x-content-sha256"] == first.headers["x-cut-sha256"] == lists.digest(first.content)
    assert first.content == second.content
    rows = list(csv.DictReader(io.StringIO(first.text)))
    assert sorted(r["clave_elector"] for r in rows) == sorted(c for c in listed if facts[c]["state"] == "09")
    assert set(rows[0]) == {"journey", "clave_elector", "apellido_paterno", "apellido_materno", "nombre",
                            "pais_residencia", "entidad"}  # only what a party needs
    # One citizen different: another hash; the same rows: the same hash.
    exported = [list(r.values()) for r in rows]
    assert lists.digest(lists.render(exported, "review")) == first.headers["x-content-sha256"]
    if exported:
        changed = [row[:] for row in exported]
        changed[0][4] = changed[0][4] + " José"
        assert lists.digest(lists.render(changed, "review")) != first.headers["x-content-sha256"]
    assert (await api.http.get(url, headers=api.auth("operator"))).status_code == 403

    # Observations: one upheld (excluded), one dismissed (stays), one out of the window (refused).
    upheld, dismissed, late = listed[0], listed[1], listed[2]
    for clave, number in ((upheld, "PAN_0001"), (dismissed, "PAN_0002")):
        filed = await api.http.post(f"/api/v1/journeys/{journey_of[clave]}/observations", headers=party, json={
            "at": at("2021-03-25 10:00").isoformat(), "observation_id": number, "reason": "no reside en el extranjero"})
        assert filed.status_code == 200, filed.text
    outside = await api.http.post(f"/api/v1/journeys/{journey_of[late]}/observations", headers=party, json={
        "at": at("2021-04-07 10:00").isoformat(), "observation_id": "PAN_0003", "reason": "tarde"})
    assert outside.status_code == 422 and outside.json()["detail"][0]["type"] == "observation-window"
    reviewer = api.auth("reviewer")
    for clave, number, verdict in ((upheld, "PAN_0001", True), (dismissed, "PAN_0002", False)):
        resolved = await api.http.post(
            f"/api/v1/journeys/{journey_of[clave]}/observations/{number}/resolution", headers=reviewer,
            json={"at": at("2021-03-30 10:00").isoformat(), "upheld": verdict, "reason": "revisado"})
        assert resolved.status_code == 200, resolved.text
    events = [type(e).__name__ for e in stack.registry.history(journey_of[upheld])]
    assert events[-2:] == ["PartyObservationResolved", "ExcludedFromDefinitiveList"]

    # The final registral check: a batch of registry changes, one for a citizen we do not know.
    deceased, duplicate = listed[3], listed[4]
    unknown = people.clave_de_elector("Nadie", "Nunca", "Ana", date(1970, 1, 1), "09", "M", rng)
    checks = [(deceased, "DECEASED"), (duplicate, "DUPLICATE_REGISTRATION"), (dismissed, "OK"), (unknown, "DECEASED")]
    check_file = tmp_path / "registral.jsonl"
    check_file.write_text("\n".join(json.dumps({"process": api.process, "clave": clave, "command": {
        "kind": "record_registral_check", "at": at("2021-04-10 10:00").isoformat(), "result": result,
        "source": "DERFE-VSR"}}) for clave, result in checks) + "\n")
    checked = await run_import(check_file, stack.journeys, stack.settings.data_dir / "imports",
                               tmp_path / "registral.rejects.jsonl")
    assert (checked.accepted, checked.refused, dict(checked.refused_by_rule)) == (3, 1, {"journey-exists": 1})
    rejected_lines = [json.loads(t) for t in (tmp_path / "registral.rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejected_lines] == [4]  # the unknown citizen, reported by line

    # The definitive list.
    supervisor = api.auth("supervisor")
    for milestone in ("observations_closed", "definitive_list"):
        fired = await api.http.post(f"/api/v1/processes/{api.process}/milestones/{milestone}", json={},
                                    headers=supervisor)
        assert fired.status_code == 200, fired.text
    assert fired.json()["list_cut"]["kind"] == "definitive"
    excluded = {upheld: "OBSERVATION_UPHELD", deceased: "DECEASED", duplicate: "DUPLICATE_REGISTRATION"}
    included = [c for c in listed if c not in excluded]
    cuts = (await api.http.get(f"/api/v1/processes/{api.process}/lists", headers=api.auth("viewer"))).json()
    definitive = next(c for c in cuts if c["kind"] == "definitive")
    assert definitive["citizens"] == len(included)
    expected_parts = Counter((facts[c]["state"], facts[c]["modality"]) for c in included)
    assert {(p["state"], p["modality"]): p["citizens"] for p in definitive["parts"] if p["citizens"]} == \
        dict(expected_parts)
    state, modality = next(iter(expected_parts))
    part = await api.http.get(f"/api/v1/processes/{api.process}/lists/definitive/{state}",
                              params={"modality": modality}, headers=supervisor)
    assert part.headers["x-content-sha256"] == part.headers["x-cut-sha256"]
    assert len(list(csv.DictReader(io.StringIO(part.text)))) == expected_parts[(state, modality)]

    # Each included citizen got the package or the access, by modality; the carrier's news follow.
    deliveries = fired.json()["deliveries"]
    by_modality = Counter(facts[c]["modality"] for c in included)
    assert deliveries == {"postal_sent": by_modality["postal"], "internet_access_issued": by_modality["internet"]}
    postal = next(c for c in included if facts[c]["modality"] == "postal")
    online = next(c for c in included if facts[c]["modality"] == "internet")
    operator = api.auth("operator")

    async def news(clave: str, status: str, when: str):
        return await api.http.post(f"/api/v1/journeys/{journey_of[clave]}/delivery", headers=operator,
                                   json={"at": at(when).isoformat(), "status": status, "reference": "DHL-778"})

    delivered = await news(postal, "postal_delivered", "2021-05-03 12:00")
    assert delivered.status_code == 200 and delivered.json()["status"]["delivery"] == "postal_delivered"
    assert (await news(postal, "postal_returned", "2021-05-04 12:00")).json()["detail"][0]["type"] == "delivery-order"
    assert (await news(online, "postal_delivered", "2021-05-03 12:00")).json()["detail"][0]["type"] == \
        "delivery-modality"
    assert (await news(listed[0], "postal_sent", "2021-05-03 12:00")).status_code == 409  # excluded: wrong stage

    # Who left between the two lists, and why: the excluded, and those never listed are not in it.
    left = (await api.http.get(f"/api/v1/processes/{api.process}/lists/departures", headers=reviewer)).json()
    assert {d["journey"]: d["reason"] for d in left["departures"]} == {
        journey_of[c]: reason for c, reason in excluded.items()}
    assert all(d["motivo"] for d in left["departures"])

    # The report: the definitive list by state × modality, the exclusions by reason.
    stack.wait_for_projection()
    report = (await api.http.get(f"/api/v1/processes/{api.process}/report", headers=api.auth("viewer"))).json()
    names = {"03": "Baja California Sur", "08": "Chihuahua", "09": "Ciudad de México", "14": "Jalisco",
             "16": "Michoacán"}
    labels = {"postal": "Postal", "internet": "Electrónico por internet"}
    table = report["definitive_by_entity_modality"]
    for (state, modality), n in expected_parts.items():
        assert table[names[state]][labels[modality]] == n
    assert table["TOTAL"]["TOTAL"] == len(included)
    # Uncorrected inconsistencies were rejected at the analysis deadline, so the definitive list
    # excludes them as not meeting the requirements.
    never_listed = len(facts) - len(listed)
    assert report["exclusions_by_reason"] == {
        "Defunción": 1, "Registro duplicado": 1, "No cumplió los requisitos al cierre del análisis": never_listed,
        "Observación de partido político procedente": 1, "TOTAL": 3 + never_listed}
    assert report["stages"]["included"] == len(included)
    assert report["stages"]["excluded"] == len(excluded) + never_listed
    assert report["deliveries"] == {
        "Paquetes Electorales Postales enviados": by_modality["postal"],
        "Paquetes Electorales Postales entregados": 1, "Paquetes Electorales Postales devueltos": 0,
        "Accesos para votar por internet emitidos": by_modality["internet"]}
