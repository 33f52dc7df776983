"""What one hostile or clumsy request must not do (issue 23), through the HTTP API on the real
stack: each class sends what was observed, then asserts the answer, that nothing was recorded
(the event log's head), that the published figures did not move, and that the stack serves."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lnere.application.staff import StaffDirectory
from lnere.domain.process import BUILTIN_PROCESSES_DIR, ProcessCatalog
from lnere.domain.roles import Role
from lnere.projections.report import OUTBOUND_CALL_OUTCOMES
from tests.citizens import at, credential, request
from tests.test_api import body

session_loop = pytest.mark.asyncio(loop_scope="session")


def when(text: str) -> str:
    return at(text).isoformat()


def head(api) -> int:
    return api.stack.registry.head()


async def published(api) -> dict:
    """The published report, once the projection has caught up with the log."""
    api.stack.wait_for_projection()
    answer = await api.http.get(f"/api/v1/processes/{api.process}/report")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    return {k: v for k, v in report.items() if k not in ("generated_at", "log_position")}


async def serves(api) -> None:
    assert (await api.http.get("/healthz")).status_code == 200
    assert (await api.http.get(f"/api/v1/processes/{api.process}/figures")).status_code == 200


async def _cpve_holders(api, rng: random.Random, n: int) -> list[str]:
    """CPVE holders with an activated credential and no request (what a campaign calls)."""
    journeys = []
    for _ in range(n):
        answer = await api.http.post(f"/api/v1/processes/{api.process}/credentials", headers=api.auth("operator"),
                                     json={"at": when("2020-09-05 10:00"), "credential": credential(rng)})
        assert answer.status_code == 200, answer.text
        journeys.append(answer.json()["journey"])
    api.stack.wait_for_projection()
    return journeys


@session_loop
async def test_simultaneous_outcomes_of_one_call_count_it_once(api):
    http, operator, supervisor = api.http, api.auth("operator"), api.auth("supervisor")
    await _cpve_holders(api, random.Random(23), 3)
    campaigns = f"/api/v1/processes/{api.process}/campaigns"
    base = {"at": when("2020-10-01 09:00"), "source": "cpve_without_request"}

    # A campaign's name is plain text (the names' rule): CR/LF, U+2028 refused; a business time
    # outside the process's bounds refused — nothing recorded.
    before, figures = head(api), await published(api)
    for name in ("línea\r\nBcc: x", "una\u2028dos", "cero\u200banchos"):
        answer = await http.post(campaigns, json={**base, "code": "C_BAD", "name": name}, headers=supervisor)
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"][-1] == "name", answer.text
    for moment in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+00:00", "2999-01-01T00:00:00+00:00"):
        answer = await http.post(campaigns, json={**base, "code": "C_LATE", "name": "x", "at": moment},
                                 headers=supervisor)
        assert answer.status_code == 422 and answer.json()["detail"][0]["type"] == "business-time-bounds", answer.text
    assert head(api) == before and await published(api) == figures

    # HTML and formula text in a name are taken as text, and shown as text.
    built = await http.post(campaigns, json={**base, "code": "C_ONE", "list_size": 10,
                                             "name": "=HYPERLINK(\"http://x\")<script>alert(1)</script>"},
                            headers=supervisor)
    assert built.status_code == 200 and built.json()["citizens"] == 3, built.text
    work = f"{campaigns}/C_ONE"
    before = head(api)
    late = await http.post(f"{work}/next", json={"at": "9999-12-31T23:59:59-14:00"}, headers=operator)
    assert late.status_code == 422 and late.json()["detail"][0]["type"] == "business-time-bounds"
    assert head(api) == before

    async def next_citizen() -> str:
        answer = await http.post(f"{work}/next", json={"at": when("2020-10-02 10:00")}, headers=operator)
        assert answer.status_code == 200, answer.text
        return answer.json()["journey"]

    calls_before = (await published(api))["inetel_outbound_calls"]

    # Four different outcomes for one call at once: one recorded, the others 409, never 500.
    first = await next_citizen()
    outcomes = ["informed", "no_answer", "voicemail_or_third_party", "no_intention_to_vote"]
    answers = await asyncio.gather(*(http.post(f"{work}/calls/{first}", headers=operator, json={
        "at": when("2020-10-02 10:05"), "outcome": outcome}) for outcome in outcomes))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 409, 409, 409], [a.text for a in answers]
    won = outcomes[[a.status_code for a in answers].index(200)]

    # The same outcome four times at once (a double click, a retry): counted once, the rest
    # answered as recorded already or refused, never 500.
    second = await next_citizen()
    answers = await asyncio.gather(*(http.post(f"{work}/calls/{second}", headers=operator, json={
        "at": when("2020-10-02 10:15"), "outcome": "informed"}) for _ in range(4)))
    assert {a.status_code for a in answers} <= {200, 409}, [a.text for a in answers]
    recorded = [a.json() for a in answers if a.status_code == 200]
    assert sum(not a["already_recorded"] for a in recorded) == 1, recorded
    # And once more, later: already recorded, nothing new.
    before = head(api)
    again = await http.post(f"{work}/calls/{second}", headers=operator,
                            json={"at": when("2020-10-02 10:15"), "outcome": "informed"})
    assert again.status_code == 409 and again.json()["rule"] == "call-completed"
    assert head(api) == before

    # Table 4.2.1 and the campaign's progress moved by exactly one call each.
    report = await published(api)
    calls = report["inetel_outbound_calls"]
    moved = {k: calls[k] - calls_before.get(k, 0) for k in calls if calls[k] != calls_before.get(k, 0)}
    expected = {OUTBOUND_CALL_OUTCOMES[won]: 1, OUTBOUND_CALL_OUTCOMES["informed"]: 1}
    if won == "informed":
        expected = {OUTBOUND_CALL_OUTCOMES["informed"]: 2}
    assert moved == {**expected, "TOTAL": 2}, moved
    assert report["campaigns"]["C_ONE"]["Llamadas realizadas"] == 2
    progress = (await http.get(work, headers=operator)).json()["progress"]
    assert (progress["calls"], progress["called"], progress["in_progress"]) == (2, 2, 0)
    await serves(api)


@session_loop
async def test_one_mistaken_date_neither_issues_reports_early_nor_locks_a_journey(api):
    from lnere.application import reports as schedules

    http, operator, supervisor = api.http, api.auth("operator"), api.auth("supervisor")
    process = api.stack.journeys.processes.get(api.process)
    rng = random.Random(5)
    for day in ("2020-09-10", "2020-10-05"):
        citizen = credential(rng)
        answer = await http.post(f"/api/v1/processes/{api.process}/requests", headers=operator,
                                 json=body(request(citizen, when=at(f"{day} 10:00"))))
        assert answer.status_code == 200, answer.text
    api.stack.wait_for_projection()
    client, queue = api.stack.client, api.stack.settings.task_queue
    await schedules.ensure_report_schedule(client, process, queue)
    first = await schedules.issue_due_reports(client, process, queue)
    assert first.issued == [1, 2]  # 16 Sep and 1 Oct: the latest request is of 5 Oct

    # (a) An attention dated within the bounds but two years on: recorded (an attention may be
    # late), and the process's "today" does not jump with it.
    late = await http.post(f"/api/v1/processes/{api.process}/attentions", headers=operator, json={
        "at": when("2022-06-30 10:00"), "service": "vmre", "topic": "VOTE_INTENTION", "channel": "telephone",
        "origin": "united_states"})
    assert late.status_code == 200, late.text
    # (b) A campaign dated 31 Dec 9999: refused (outside the bounds), nothing recorded.
    before = head(api)
    campaign = await http.post(f"/api/v1/processes/{api.process}/campaigns", headers=supervisor, json={
        "code": "C_9999", "name": "x", "at": "9999-12-31T23:59:59-14:00", "source": "cpve_without_request"})
    assert campaign.status_code == 422 and head(api) == before
    api.stack.wait_for_projection()
    again = await schedules.issue_due_reports(client, process, queue)
    assert again.issued == [] and again.already == [1, 2]
    assert len(api.stack.registry.issued_reports(process)) == 2

    # An activation (or any command of the registration phase) dated after the window closes:
    # refused, and the citizen's request of the next day is then taken.
    holder = credential(rng, activated=False)
    recorded = await http.post(f"/api/v1/processes/{api.process}/credentials", headers=operator,
                               json={"at": when("2020-09-05 10:00"), "credential": holder})
    journey = recorded.json()["journey"]
    before, figures = head(api), await published(api)
    for path, payload in ((f"/api/v1/journeys/{journey}/credential-activation", {"at": when("2022-06-30 10:00")}),
                          (f"/api/v1/journeys/{journey}/commands/resend_credential",
                           {"at": when("2021-03-11 10:00"), "reason": "not_received"})):
        refused = await http.post(path, json=payload, headers=operator)
        assert refused.status_code == 422 and refused.json()["detail"][0]["type"] == "registration-window", \
            refused.text
    cpve = await http.post(f"/api/v1/processes/{api.process}/commands/request_cpve", headers=operator, json={
        "at": when("2021-06-01 10:00"), "credential": credential(rng, activated=False), "office": "CONS_CHICAGO",
        "state_of_reference": "16"})
    assert cpve.status_code == 422 and cpve.json()["detail"][0]["type"] == "registration-window", cpve.text
    assert head(api) == before and await published(api) == figures
    activated = await http.post(f"/api/v1/journeys/{journey}/credential-activation", headers=operator,
                                json={"at": when("2020-10-05 10:00")})
    assert activated.status_code == 200, activated.text
    filed = await http.post(f"/api/v1/processes/{api.process}/requests", headers=operator,
                            json={**body(request(None, when=at("2020-10-06 10:00"))), "clave": holder["clave"]})
    assert filed.status_code == 200 and filed.json()["status"]["stage"] == "in_review", filed.text

    # A CPVE requested on the last day of registration can be cancelled after its 730 days of
    # safekeeping, past the process's other bounds (its own calendar).
    kept = await http.post(f"/api/v1/processes/{api.process}/commands/request_cpve", headers=operator, json={
        "at": when("2021-03-10 10:00"), "credential": credential(rng, activated=False), "office": "CONS_CHICAGO",
        "state_of_reference": "16"})
    assert kept.status_code == 200, kept.text
    cancelled = await http.post(f"/api/v1/journeys/{kept.json()['journey']}/commands/cancel_cpve",
                                headers=supervisor, json={"at": when("2023-03-11 10:00")})
    assert cancelled.status_code == 200, cancelled.text

    # The dashboard opens on the process that holds the data (not on the first of the list).
    processes = (await http.get("/api/v1/processes")).json()
    assert [p["id"] for p in processes if p["default"]] == [api.process]
    await serves(api)


@session_loop
@pytest.mark.any_backend  # access and hosts, not storage
async def test_an_opl_member_of_a_state_the_process_lacks_is_told_so(api):
    directory = StaffDirectory(api.stack.settings.staff_path)
    for state in ("01", "00", "99"):  # Aguascalientes has no vote from abroad in PEL 2020-2021
        token = directory.add(f"opl.{state}", Role.OPL, state=state)
        who = {"Authorization": f"Bearer {token}"}
        for path in ("reports", "reports/1", "reports/1?format=csv", "lists", "figures"):
            answer = await api.http.get(f"/api/v1/processes/{api.process}/{path}", headers=who)
            assert answer.status_code == 404 and "state" in answer.json()["detail"], (state, path, answer.text)
    await serves(api)


@session_loop
@pytest.mark.any_backend  # access and hosts, not storage
async def test_a_rebound_host_name_is_not_answered(api):
    for path in ("/metrics", f"/api/v1/processes/{api.process}/figures", "/readyz", "/codec/session"):
        answer = await api.http.get(path, headers={"Host": "rebind.evil.example"})
        assert answer.status_code == 400, (path, answer.status_code)
        assert "lnere" not in answer.text
    for host in ("127.0.0.1", "localhost"):
        assert (await api.http.get("/healthz", headers={"Host": host})).status_code == 200
    await serves(api)


def _process_file(folder: Path, file_name: str, **changes) -> Path:
    data = json.loads((BUILTIN_PROCESSES_DIR / "pel-2020-2021.json").read_text(encoding="utf-8"))
    path = folder / file_name
    path.write_text(json.dumps({**data, **changes}), encoding="utf-8")
    return path


@session_loop
async def test_bad_process_files_are_skipped_named_and_never_hold_the_api(dev_env, settings, tmp_path):
    import uvicorn

    from lnere.api.app import create_app
    from lnere.application.gateway import keep_processes, load_processes
    from lnere.runtime.stack import free_port

    folder = tmp_path / "processes"
    folder.mkdir()
    live = settings.model_copy(update={"processes_dir": folder})
    _process_file(folder, "a-first.json", id="pel-first")
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    _process_file(folder, "shadow.json", name="not INE's")  # the packaged id: never replaces it
    with pytest.raises(ValueError, match="broken.json: not valid JSON"):
        keep_processes(live)  # lnere up's check stops, naming the file
    alone = tmp_path / "alone"
    alone.mkdir()
    _process_file(alone, "shadow.json", name="not INE's")
    with pytest.raises(ValueError, match="shadow.json: id 'pel-2020-2021' is a packaged process"):
        ProcessCatalog.load(alone, strict=True)
    catalog = load_processes(live)  # a component (re)started beside them: serves the rest
    assert catalog.get("pel-first") and catalog.get("pel-2020-2021").name != "not INE's"
    assert {Path(p).name for p in catalog.skipped} == {"broken.json", "shadow.json"}

    port = free_port()
    app = create_app(live, client=dev_env.client)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                           timeout_graceful_shutdown=1))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            ready = (await http.get("/readyz")).json()
            assert {f["file"] for f in ready["process_files_skipped"]} == {"broken.json", "shadow.json"}
            # A valid file added beside the bad ones while the API runs is found.
            _process_file(folder, "later.json", id="pel-later")
            await asyncio.sleep(1.1)  # the folders are read again at most once a second
            assert (await http.get("/api/v1/processes/pel-later/figures")).status_code == 200
            # A FIFO named like a process file never blocks the event loop.
            os.mkfifo(folder / "pipe.json")
            await asyncio.sleep(1.1)
            started = time.monotonic()
            unknown, health = await asyncio.gather(http.get("/api/v1/processes/pel-nowhere/figures"),
                                                   http.get("/healthz"))
            assert unknown.status_code == 404 and health.status_code == 200
            assert time.monotonic() - started < 5
            skipped = {f["file"]: f["reason"] for f in (await http.get("/readyz")).json()["process_files_skipped"]}
            assert skipped["pipe.json"] == "not a regular file"
    finally:
        server.should_exit = True
        await serving
    assert ProcessCatalog.load(folder).get("pel-later")


@pytest.mark.parametrize("variable, value, named", [
    ("LNERE_API_PORT", "99999", "LNERE_API_PORT"),
    ("LNERE_JOURNEY_KEY", "ab", "LNERE_JOURNEY_KEY"),
    ("LNERE_CIPHER_KEY", "QQ==", "LNERE_CIPHER_KEY"),
    ("LNERE_CODEC_TOKENS", "x", "LNERE_CODEC_TOKENS"),
    ("LNERE_PAYLOAD_KEYS", "k=QQ==", "LNERE_PAYLOAD_KEYS"),
    ("LNERE_LOG_LEVEL", "LOUD", "LNERE_LOG_LEVEL"),
    ("LNERE_STAFF_FILE", "{staff}", "not JSON"),
])
def test_a_bad_setting_stops_a_service_at_start_naming_it(tmp_path, variable, value, named):
    staff = tmp_path / "staff.json"
    staff.write_text("this is not json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LNERE_")}
    env.update({"LNERE_DATA_DIR": str(tmp_path / "data"), variable: value.format(staff=staff)})
    started = subprocess.run([sys.executable, "-m", "lnere.api"], env=env, capture_output=True, text=True,
                             timeout=60, cwd=tmp_path)
    assert started.returncode != 0
    assert named in started.stderr and "Traceback" not in started.stderr, started.stderr
