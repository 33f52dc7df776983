"""A state electoral body (OPL) sees its own state only — every route it may call, every
export, the issued reports — enforced in the read use cases; parties see every state; the
public may ask for any state's published figures. Real stack, through the HTTP API."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random

import httpx
import pytest

from lnere.domain.commands import CommandEnvelope, FireMilestone
from lnere.domain.process import Milestone
from tests.citizens import at, credential, request

pytestmark = pytest.mark.asyncio(loop_scope="session")

MICHOACAN, CDMX = "16", "09"


async def test_an_opl_of_michoacan_sees_only_michoacan_on_every_route(dev_env, settings):
    from lnere.application.reports import issue_due_reports
    from lnere.projections.issued import figures_at, render
    from tests.conftest import own_process_catalog, running_api

    catalog, process_id = own_process_catalog()
    process = catalog.get(process_id)
    others = [s.name for s in process.states if s.code != MICHOACAN]
    rng = random.Random(16)
    async with (running_api(dev_env.client, settings, catalog, process_id) as api,
                httpx.AsyncClient(base_url=api.base_url, timeout=60) as http):
        filed = {MICHOACAN: 0, CDMX: 0}
        for i, (state, country, sex) in enumerate([(MICHOACAN, "US", "M"), (MICHOACAN, "CA", "H"),
                                                   (MICHOACAN, "US", "H"), (CDMX, "ES", "M"), (CDMX, "US", "M"),
                                                   (CDMX, "FR", "H"), (CDMX, "US", "H")]):
            citizen = credential(rng, sex=sex)
            envelope = CommandEnvelope.model_validate({"process": process_id, "clave": citizen["clave"], "command":
                                                       request(citizen, when=at(f"2020-10-{5 + i:02d} 10:00"),
                                                               state=state, country=country)})
            status = await api.stack.journeys.send(envelope)
            await api.stack.journeys.send(CommandEnvelope.model_validate({
                "process": process_id, "journey": status.workflow_id, "command": {
                    "kind": "decide_review", "at": at("2020-11-20 10:00").isoformat(), "reviewer": "r",
                    "outcome": "meets_requirements"}}))
            filed[state] += 1
        api.stack.wait_for_projection()
        for milestone in (Milestone.REGISTRATION_CLOSED, Milestone.INCONSISTENCY_NOTICE_DEADLINE,
                          Milestone.ANALYSIS_DEADLINE, Milestone.LIST_FOR_REVIEW_ISSUED):
            await api.stack.journeys.fire_milestone(process_id, FireMilestone(milestone=milestone))
        api.stack.wait_for_projection()
        await issue_due_reports(dev_env.client, process, settings.task_queue)
        opl, party = api.auth("opl"), api.auth("party")

        def only_michoacan(text: str) -> None:
            for name in others:
                assert name not in text, f"{name} in an OPL's answer"

        assert (await http.get("/api/v1/me", headers=opl)).json() == {"staff": "opl.1", "role": "opl",
                                                                     "state": MICHOACAN}
        # Figures and the report, in every format: Michoacán's alone, and whole.
        answer = await http.get(f"/api/v1/processes/{process_id}/figures", headers=opl)
        only_michoacan(answer.text)
        figures = answer.json()["report"]
        assert figures["state"] == MICHOACAN
        assert figures["by_entity"] == {"Michoacán": filed[MICHOACAN], "TOTAL": filed[MICHOACAN]}
        assert figures["by_channel"]["TOTAL"] == figures["by_sex"]["TOTAL"] == filed[MICHOACAN]
        assert figures["by_sex"] == {"Hombres": 2, "Mujeres": 1, "TOTAL": 3}
        assert figures["stages"]["listed_for_review"] == filed[MICHOACAN]
        assert {row["country"] for row in figures["by_country_entity"]} == {"Estados Unidos de América", "Canadá"}
        for fmt in ("json", "csv", "md", "excel"):
            answer = await http.get(f"/api/v1/processes/{process_id}/report", params={"format": fmt}, headers=opl)
            assert answer.status_code == 200
            only_michoacan(answer.content.decode("utf-8-sig"))
        # Another state: 403, and nothing about it.
        for path in ("figures", "report"):
            answer = await http.get(f"/api/v1/processes/{process_id}/{path}", params={"state": CDMX}, headers=opl)
            assert answer.status_code == 403 and "Ciudad de México" not in answer.text and CDMX not in answer.text
        # The lists: its state's parts and exports only.
        cuts = (await http.get(f"/api/v1/processes/{process_id}/lists", headers=opl)).json()
        assert [p["state"] for cut in cuts for p in cut["parts"]] == [MICHOACAN]
        assert cuts[0]["citizens"] == filed[MICHOACAN]
        assert (await http.get(f"/api/v1/processes/{process_id}/lists/review/{CDMX}", headers=opl)).status_code == 403
        export = await http.get(f"/api/v1/processes/{process_id}/lists/review/{MICHOACAN}", headers=opl)
        assert export.status_code == 200 and len(export.text.strip().splitlines()) == 1 + filed[MICHOACAN]
        # The issued reports: its state's own report, each hash its own, made again equal.
        issued = (await http.get(f"/api/v1/processes/{process_id}/reports", headers=opl)).json()
        assert issued and all(r["state"] == MICHOACAN for r in issued)
        whole = (await http.get(f"/api/v1/processes/{process_id}/reports", headers=party)).json()
        last, last_whole = issued[-1], whole[-1]
        assert last["sha256"] != last_whole["sha256"]
        for fmt in ("json", "csv", "md"):
            answer = await http.get(f"/api/v1/processes/{process_id}/reports/{last['number']}",
                                    params={"format": fmt}, headers=opl)
            only_michoacan(answer.text)
            assert hashlib.sha256(answer.content).hexdigest() == answer.headers["x-content-sha256"] == \
                last["sha256"][fmt]
        from datetime import date
        again = await asyncio.to_thread(figures_at, settings, process, last["position"],
                                        date.fromisoformat(last["as_of"]), MICHOACAN)
        assert hashlib.sha256(render(again, "json")).hexdigest() == last["sha256"]["json"]

        # A party sees every state; the public may ask for one state's published figures.
        every = (await http.get(f"/api/v1/processes/{process_id}/figures", headers=party)).json()["report"]
        assert every["by_entity"]["TOTAL"] == sum(filed.values()) and "state" not in every
        public = (await http.get(f"/api/v1/processes/{process_id}/figures", params={"state": CDMX})).json()
        assert public["report"]["by_entity"] == {"Ciudad de México": filed[CDMX], "TOTAL": filed[CDMX]}
        assert (await http.get(f"/api/v1/processes/{process_id}/figures", params={"state": "99"})).status_code == 404
        assert json.loads((await http.get(f"/api/v1/processes/{process_id}/report",
                                          params={"state": MICHOACAN})).content)["by_channel"]["TOTAL"] == 3
