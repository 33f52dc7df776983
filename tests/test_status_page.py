"""The public status page (/consulta), as a citizen and as someone guessing: the folio the API
gave at filing, the clave and the date of birth show the request's status — with the reasons,
what corrects them and the deadline once DERFE found inconsistencies — and nothing else of the
person; a wrong folio, a wrong clave and a wrong date get one and the same answer; thousands
of guesses meet the limit per address and per clave; every lookup is counted by outcome and
none is logged with what was typed."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.citizens import credential, request
from tests.desk import desk_api
from tests.test_api import body

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def lookups_counted(http) -> dict[str, float]:
    metrics = (await http.get("/metrics")).text
    return {outcome: float(n) for outcome, n in
            re.findall(r'^lnere_status_lookups_total\{outcome="(\w+)"\} (\S+)$', metrics, re.MULTILINE)}


def shown(html: str) -> str:
    """The page's main text, without markup."""
    main = html.split('<main id="contenido" tabindex="-1">', 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)).strip()


async def test_a_citizen_checks_their_request_and_guesses_learn_nothing(dev_env, settings, capfd):
    rng = random.Random(27)
    settings = settings.model_copy(update={"status_lookups_per_address": "40/hour",
                                           "status_lookups_per_clave": "12/day"})
    async with desk_api(dev_env, settings) as (api, http, process):
        citizen = credential(rng)
        citizen["holder"]["given_names"] = "Rosalía"
        when = datetime.now(UTC).astimezone(process.tz) - timedelta(days=10)
        filed = await http.post(f"/api/v1/processes/{process.id}/requests", headers=api.auth("operator"),
                                json={**body(request(citizen, when=when)), "credential": citizen})
        assert filed.status_code == 200, filed.text
        folio, journey = filed.json()["folio"], filed.json()["journey"]
        assert re.fullmatch(r"[0-9A-Z]{5}-[0-9A-Z]{5}", folio)
        ask = {"proceso": process.id, "folio": folio, "clave": citizen["clave"],
               "nacimiento": citizen["holder"]["birth_date"]}

        before = await lookups_counted(http)  # the counters are the process's: other tests count too
        form = await http.get(f"/consulta?proceso={process.id}")
        assert form.status_code == 200 and "Consulta el estatus de tu solicitud" in form.text
        found = await http.post("/consulta", data={**ask, "folio": folio.lower().replace("-", " ")})
        assert found.status_code == 200
        assert "En revisión" in shown(found.text) and "Recibimos tu solicitud" in found.text
        decided = await http.post(f"/api/v1/journeys/{journey}/review", headers=api.auth("reviewer"), json={
            "at": (when + timedelta(days=2)).isoformat(), "outcome": "inconsistencies",
            "reasons": ["ADDRESS_PROOF_MISSING", "SIGNATURE_MISSING"]})
        assert decided.status_code == 200, decided.text
        found = await http.post("/consulta", data=ask)
        page = shown(found.text)
        deadline = process.milestone_at("analysis_deadline").astimezone(process.tz).strftime("%d/%m/%Y")
        assert "Con inconsistencias" in page and f"Tienes hasta el {deadline}" in page
        assert "Falta el comprobante de domicilio en el extranjero" in page and "Falta la firma" in page
        assert "Comprobante de domicilio" in page  # what corrects it
        for personal in ("Rosalía", citizen["clave"], citizen["holder"]["paternal_surname"], "Los Angeles",
                         "citizen@example.org", citizen["holder"]["birth_date"], folio):
            assert personal not in found.text

        # Wrong folio, wrong clave, wrong date, malformed: one and the same answer.
        other = credential(rng)
        wrong = [{**ask, "folio": "ZZZZZ-ZZZZZ"}, {**ask, "clave": other["clave"]},
                 {**ask, "nacimiento": "1979-01-01"}, {**ask, "nacimiento": "no es fecha"},
                 {**ask, "clave": "<script>x</script>"}]
        answers = [await http.post("/consulta", data=data) for data in wrong]
        assert {a.status_code for a in answers} == {200}
        assert len({shown(a.text) for a in answers}) == 1 and "No encontramos una solicitud" in answers[0].text
        assert "<script>x" not in answers[-1].text

        # Guessing: this clave's limit (12 a day; 5 lookups used it so far) holds first.
        guesses = [await http.post("/consulta", data={**ask, "folio": f"{i:05d}-AAAAA"}) for i in range(10)]
        assert [g.status_code for g in guesses] == [200] * 7 + [429] * 3, str([g.status_code for g in guesses])
        assert "demasiadas consultas" in guesses[-1].text.lower()
        # Other claves from the same address (17 lookups so far), until its limit (40 an hour) holds.
        others = [await http.post("/consulta", data={**ask, "clave": credential(rng)["clave"]}) for _ in range(30)]
        assert [o.status_code for o in others] == [200] * 23 + [429] * 7, str([o.status_code for o in others])
        # Another address is not held back by this one's guesses (the API's own client is 127.0.0.1).

        after = await lookups_counted(http)
        counted = {k: after.get(k, 0) - before.get(k, 0) for k in ("limited", "found", "not_found")}
        assert (counted["limited"], counted["found"], counted["not_found"]) == (10, 2, 35), counted
    logs = capfd.readouterr()
    for typed in (citizen["clave"], folio, other["clave"], "ZZZZZ-ZZZZZ"):
        assert typed not in logs.out + logs.err
