"""Trust at the boundary (issue 14), through the real stack: claves in other Unicode classes,
business times out of range, a credential sent to a journey id, commands after the calendar
closed their door. For each: the answer (field and rule), nothing recorded, no workflow run
started, and the stack still serves with figures equal to the recount."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from lnere.domain.commands import CommandEnvelope, FireMilestone
from lnere.domain.process import MILESTONE_ORDER, Milestone
from lnere.domain.refusals import Refused
from lnere.domain.rules import FINAL_STAGES
from tests.citizens import at, credential, request
from tests.conftest import own_process_catalog, running_stack
from tests.recount import recount

session_loop = pytest.mark.asyncio(loop_scope="session")

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def other_forms(clave: str) -> list[str]:
    return [clave.translate(FULLWIDTH), clave.translate(ARABIC_INDIC), clave.lower(),
            clave[:6] + "\u200b" + clave[6:17], clave[:17] + "\u0301", " " + clave[:17]]


def test_a_clave_is_ascii_exactly_as_written():
    clave = credential(random.Random(1))["clave"]
    for form in other_forms(clave):
        with pytest.raises(ValidationError) as refused:
            CommandEnvelope.model_validate({"process": "pel-2020-2021", "clave": form, "command": {
                "kind": "activate_credential", "at": at("2020-10-01 10:00").isoformat()}})
        assert refused.value.errors()[0]["loc"] == ("clave",)
        assert form not in str(refused.value).split("input_value=")[0]  # the message never repeats it


def test_a_credential_is_sent_by_clave_never_to_a_journey_id():
    cred = credential(random.Random(2))
    with pytest.raises(ValidationError, match="addressed by its clave"):
        CommandEnvelope.model_validate({"process": "pel-2020-2021", "journey": "journey-pel-2020-2021-" + "a" * 32,
                                        "command": request(cred, when=at("2020-10-01 10:00"))})


async def _file(stack, process: str, rng: random.Random):
    """A citizen's request, filed through the journey client; its status."""
    citizen = credential(rng)
    return await stack.journeys.send(CommandEnvelope.model_validate(
        {"process": process, "clave": citizen["clave"], "command": request(citizen, when=at("2020-10-01 10:00"))}))


async def _runs(client, workflow_id: str) -> int:
    return len([r async for r in client.list_workflows(f"WorkflowId = '{workflow_id}'")])


async def _started(client, workflow_id: str) -> bool:
    """Whether any run of the workflow was started, asked of the server itself (the visibility
    index behind ``list_workflows`` may lag: a run started a moment ago could be missed)."""
    from temporalio.service import RPCError, RPCStatusCode

    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


@session_loop
async def test_out_of_range_times_and_closed_doors_are_refused_and_record_nothing(dev_env, settings):
    catalog, process = own_process_catalog()
    rng = random.Random(3)
    async with running_stack(dev_env.client, settings, processes=catalog) as stack:
        filed = await _file(stack, process, rng)
        events = stack.registry.recorder.max_notification_id()

        # Business times a projection cannot count by day, and a far future that would lock the journey.
        for when in ("0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59-14:00", "2999-01-01T00:00:00+00:00"):
            stranger = credential(rng)
            envelope = CommandEnvelope.model_validate({"process": process, "clave": stranger["clave"], "command": {
                "kind": "record_credential", "at": when, "credential": stranger}})
            with pytest.raises(Refused, match=r"^at: .*\[business-time-bounds\]$"):
                await stack.journeys.send(envelope)
            assert not await _started(dev_env.client, stack.journeys.workflow_id(envelope))
            with pytest.raises(Refused, match=r"\[business-time-bounds\]"):
                await stack.journeys.send(CommandEnvelope.model_validate({
                    "process": process, "journey": filed.workflow_id,
                    "command": {"kind": "decide_review", "at": when, "reviewer": "r",
                                "outcome": "meets_requirements"}}))
        old = credential(rng)
        old["holder"]["birth_date"] = "1850-01-01"
        with pytest.raises(ValidationError):  # the clave's date no longer matches: refused as input
            CommandEnvelope.model_validate({"process": process, "clave": old["clave"], "command": {
                "kind": "record_credential", "at": at("2020-10-01 10:00").isoformat(), "credential": old}})
        assert stack.registry.recorder.max_notification_id() == events

        # The calendar closes doors: after the close of registration, a request dated before it
        # is refused; after the definitive list, a registral check is.
        await stack.journeys.send(CommandEnvelope.model_validate({"process": process, "journey": filed.workflow_id,
            "command": {"kind": "decide_review", "at": at("2020-10-05 10:00").isoformat(), "reviewer": "r",
                        "outcome": "meets_requirements"}}))
        stack.wait_for_projection()
        await stack.journeys.fire_milestone(process, FireMilestone(milestone=Milestone.REGISTRATION_CLOSED))
        late = credential(rng)
        envelope = CommandEnvelope.model_validate(
            {"process": process, "clave": late["clave"], "command": request(late, when=at("2020-10-02 10:00"))})
        with pytest.raises(Refused, match=r"\[registration-closed\]"):
            await stack.journeys.send(envelope)
        assert not await _started(dev_env.client, stack.journeys.workflow_id(envelope))

        # The same through an import: new journeys whose lines are all refused get no run, and
        # an ended journey gets no new one for a line already recorded.
        await _an_import_of_refused_and_repeated_lines_starts_no_run(dev_env, settings, stack, process, rng, filed)
        for milestone in MILESTONE_ORDER[1:]:
            await stack.journeys.fire_milestone(process, FireMilestone(milestone=milestone))
        with pytest.raises(Refused, match=r"\[definitive-list-issued\]"):
            await stack.journeys.send(CommandEnvelope.model_validate({"process": process, "journey": filed.workflow_id,
                "command": {"kind": "record_registral_check", "at": at("2021-04-08 10:00").isoformat(),
                            "result": "DECEASED", "source": "RENAPO"}}))
        # The stack still serves; every journey of the process is final; figures = recount.
        assert stack.registry.status(filed.workflow_id).stage == "included"
        stack.wait_for_projection()
        counts = stack.view.counts_as_of(process, None)
        assert set(counts["stage"]) <= {s.value for s in FINAL_STAGES}
        assert counts == recount(stack.registry)


async def _an_import_of_refused_and_repeated_lines_starts_no_run(dev_env, settings, stack, process, rng, filed):
    import json

    from lnere.application.importer import run_import

    late, stranger = credential(rng), credential(rng)
    lines = [
        {"process": process, "clave": late["clave"], "command": request(late, when=at("2020-10-02 10:00"))},
        {"process": process, "clave": stranger["clave"], "command": {
            "kind": "record_credential", "at": "2999-01-01T00:00:00+00:00", "credential": stranger}},
        {"process": process, "clave": stranger["clave"], "command": request(stranger, when=at("2020-10-02 11:00"))},
        {"process": process, "journey": filed.workflow_id, "command": {
            "kind": "decide_review", "at": at("2020-10-05 10:00").isoformat(), "reviewer": "r",
            "outcome": "meets_requirements"}},
    ]
    path = settings.data_dir / "late.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    events = stack.registry.recorder.max_notification_id()
    assert await _started(dev_env.client, filed.workflow_id)  # the check can tell a run that was started
    runs_before = await _runs(dev_env.client, filed.workflow_id)
    summary = await run_import(path, stack.journeys, settings.data_dir / "imports", settings.data_dir / "late.rejects")
    assert (summary.accepted, summary.already_recorded, summary.refused) == (1, 1, 3), summary.as_dict()
    assert dict(summary.refused_by_rule) == {"registration-closed": 2, "business-time-bounds": 1}
    assert stack.registry.recorder.max_notification_id() == events
    for citizen in (late, stranger):
        assert not await _started(dev_env.client, journey_of(stack, process, citizen))
    assert await _runs(dev_env.client, filed.workflow_id) == runs_before


def journey_of(stack, process: str, citizen: dict) -> str:
    from lnere.domain.identity import journey_workflow_id

    return journey_workflow_id(stack.journeys.journey_key, process, citizen["clave"])


def test_party_exports_neutralise_formulas_and_quote_every_field():
    from lnere.projections.lists import render

    rows = [["journey-x", "ABCDEF80070509M123", "=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "US", "09"]]
    text = render(rows, "review").decode("utf-8")
    lines = text.splitlines()
    assert len(lines) == 2  # the header and one row: nothing a reader could take for another row
    assert "\"'=HYPERLINK" in lines[1] and "\"'+1\"" in lines[1] and "\"'-2+3\"" in lines[1] and "\"'@SUM" in lines[1]
    assert all(field.startswith('"') for field in lines[1].split(","))


def test_names_and_addresses_refuse_control_and_invisible_characters():
    from lnere.domain.values import AddressAbroad, Holder

    for bad in ("Ana\x00", "Ana\x1b[31m", "Ana\rBeto", "\u202eanA", "A\u200bna", "Ana\tBeto"):
        with pytest.raises(ValidationError, match="control or invisible"):
            Holder(given_names=bad, paternal_surname="López", birth_date="1980-07-05", sex="M")
        with pytest.raises(ValidationError, match="control or invisible"):
            AddressAbroad(street=bad, city="Springfield")
    Holder(given_names="María José", paternal_surname="Núñez-O'Brien", birth_date="1980-07-05", sex="M")


@session_loop
async def test_an_import_refuses_each_bad_line_by_number_and_takes_the_rest(dev_env, settings):
    import json

    from lnere.application.importer import MAX_LINE_BYTES, run_import

    catalog, process = own_process_catalog()
    rng = random.Random(4)
    good = [credential(rng) for _ in range(3)]
    lines = [json.dumps({"process": process, "clave": c["clave"], "command": request(c, when=at("2020-10-01 10:00"))})
             for c in good]
    bad = [
        "[" * 100_000 + "]" * 100_000,  # nested 100,000 deep
        f'{{"process": "{process}", "clave": "X", "command": {{"kind": "activate_credential", "at": {"9" * 5000}}}}}',
        f'{{"process": "{process}", "clave": "X", "command": {{"kind": "activate_credential", "at": NaN}}}}',
        '{"a": 1e999999}',
        "x" * (MAX_LINE_BYTES + 10),
        "\ufeff" + lines[0].replace(good[0]["clave"], credential(rng)["clave"]),  # a BOM, mid-file
    ]
    path = settings.data_dir / "hostile.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([lines[0], *bad, *lines[1:]]) + "\n", encoding="utf-8")
    async with running_stack(dev_env.client, settings, processes=catalog) as stack:
        summary = await run_import(path, stack.journeys, settings.data_dir / "imports",
                                   settings.data_dir / "rejects.jsonl")
        assert summary.accepted == 3 and summary.refused == len(bad), summary.as_dict()
        rejects = [json.loads(line) for line in (settings.data_dir / "rejects.jsonl").read_text().splitlines()]
        assert [r["line"] for r in rejects] == list(range(2, 2 + len(bad)))
        assert all(r["rule"] == "invalid-line" for r in rejects)
        journal = next((settings.data_dir / "imports").glob("*.journal"))
        assert journal.stat().st_mode & 0o777 == 0o600
        for citizen in good:
            assert stack.registry.status(stack.journeys.workflow_id(CommandEnvelope.model_validate(
                {"process": process, "clave": citizen["clave"],
                 "command": request(citizen, when=at("2020-10-01 10:00"))}
            ))).stage == "in_review"


@session_loop
async def test_a_command_id_names_one_command(dev_env, settings):
    import json

    from lnere.application.importer import run_import

    catalog, process = own_process_catalog()
    rng = random.Random(5)
    async with running_stack(dev_env.client, settings, processes=catalog) as stack:
        filed = await _file(stack, process, rng)

        def decision(outcome: str, reviewer: str, *reasons: str) -> CommandEnvelope:
            return CommandEnvelope.model_validate({"process": process, "journey": filed.workflow_id, "command": {
                "kind": "decide_review", "at": at("2020-10-05 10:00").isoformat(), "reviewer": reviewer,
                "outcome": outcome, "reasons": list(reasons), "command_id": "DECISION-1"}})

        first = await stack.journeys.send(decision("meets_requirements", "ana"))
        again = await stack.journeys.send(decision("meets_requirements", "ana"))  # the same command: answered
        assert again.version == first.version
        events = stack.registry.recorder.max_notification_id()
        with pytest.raises(Refused, match=r"^command_id: .*\[command-id-reused\]$"):
            await stack.journeys.send(decision("inconsistencies", "beto", "DATA_MISMATCH"))
        assert stack.registry.recorder.max_notification_id() == events

        # In an import, the second of two different lines sharing an id is refused, not dropped.
        other = credential(rng)
        lines = [{"process": process, "clave": other["clave"], "command": request(other, when=at("2020-10-01 10:00"))}]
        for reviewer, outcome in (("ana", "meets_requirements"), ("beto", "rejected")):
            lines.append({"process": process, "clave": other["clave"], "command": {
                "kind": "decide_review", "at": at("2020-10-06 10:00").isoformat(), "reviewer": reviewer,
                "outcome": outcome, "reasons": [] if outcome == "meets_requirements" else ["NOT_RESIDENT_ABROAD"],
                "command_id": "DECISION-7"}})
        path = settings.data_dir / "reused.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        summary = await run_import(path, stack.journeys, settings.data_dir / "imports",
                                   settings.data_dir / "rejects.jsonl")
        assert (summary.accepted, summary.refused) == (2, 1), summary.as_dict()
        assert dict(summary.refused_by_rule) == {"command-id-reused": 1}


async def test_every_answer_carries_security_headers_and_the_docs_need_no_cdn(api):
    import re

    for path, headers in (("/", {}), ("/docs", {}), ("/redoc", {}), ("/openapi.json", {}),
                          ("/api/v1/me", {}), ("/api/v1/me", api.auth("viewer")), ("/no-such-page", {})):
        answer = await api.http.get(path, headers=headers)
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["x-frame-options"] == "DENY", path
        assert answer.headers["referrer-policy"] == "no-referrer", path
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
        if path not in ("/docs", "/redoc"):
            assert "unsafe-inline" not in policy, path
    for page in ("/docs", "/redoc"):
        text = (await api.http.get(page)).text
        sources = re.findall(r'(?:src|href)="([^"]+)"', text)
        assert sources and all(s.startswith("/") for s in sources), sources  # nothing from another origin
        for source in sources:
            assert (await api.http.get(source)).status_code == 200, source


def test_a_read_command_with_a_wrong_data_dir_says_so_and_creates_nothing(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    wrong = tmp_path / "no-such-data"
    for args in (["report"], ["journey", "status", "--journey", "journey-pel-2020-2021-" + "0" * 32],
                 ["list", "show"], ["projections", "status"]):
        result = subprocess.run([sys.executable, "-m", "lnere.cli.main", "--data-dir", str(wrong), "--process",
                                 "pel-2020-2021", *args], cwd=repo, capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, (args, result.stderr)
        assert f"data dir {wrong} does not exist" in result.stderr
        assert not wrong.exists()


def test_processes_opening_a_fresh_view_at_once_all_succeed(tmp_path):
    import threading

    from eventsourcing.sqlite import SQLiteDatastore

    from lnere.projections.journey_counts import JourneyCountsView
    from lnere.projections.runner import create_tables

    errors: list[str] = []
    for trial in range(10):  # without the retry, most of these trials fail (IntegrityError on __migration__)
        path = tmp_path / f"view-{trial}.sqlite"
        barrier = threading.Barrier(4)

        def open_at_once(path: Path = path, barrier: threading.Barrier = barrier) -> None:
            view = JourneyCountsView(SQLiteDatastore(str(path), lock_timeout=30))
            barrier.wait()
            try:
                create_tables(view)
            except Exception:  # noqa: BLE001 - collected for the assertion
                import traceback
                errors.append(traceback.format_exc())

        threads = [threading.Thread(target=open_at_once) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


async def test_a_party_sees_only_its_own_observations(api):
    from lnere.application.staff import StaffDirectory
    from lnere.domain.roles import Role
    from tests.test_api import body

    prd = StaffDirectory(api.stack.settings.staff_path).add("prd.1", Role.PARTY, "PRD")
    citizen = credential(random.Random(6))
    filed = await api.http.post(f"/api/v1/processes/{api.process}/requests",
                                json=body(request(citizen, when=at("2020-10-05 10:00"))), headers=api.auth("operator"))
    journey = filed.json()["journey"]
    decided = await api.http.post(f"/api/v1/journeys/{journey}/review", headers=api.auth("reviewer"),
                                  json={"at": at("2020-10-20 10:00").isoformat(), "outcome": "meets_requirements"})
    assert decided.status_code == 200, decided.text
    api.stack.wait_for_projection()
    for milestone in ("registration_closed", "inconsistency_notice_deadline", "analysis_deadline",
                      "list_for_review_issued"):
        fired = await api.http.post(f"/api/v1/processes/{api.process}/milestones/{milestone}", json={},
                                    headers=api.auth("supervisor"))
        assert fired.status_code == 200, fired.text
    for token, number in ((api.tokens["party"], "PAN_0001"), (prd, "PRD_0001")):
        answer = await api.http.post(f"/api/v1/journeys/{journey}/observations",
                                     headers={"Authorization": f"Bearer {token}"},
                                     json={"at": at("2021-03-25 10:00").isoformat(), "observation_id": number,
                                           "reason": "no reside en el extranjero"})
        assert answer.status_code == 200, answer.text
        status = answer.json()["status"]
        assert status["open_observations"] == [number]  # never the other party's
        # Nothing that counts the other parties' filings: no version, the last fact of its own.
        assert status["version"] == 0 and datetime.fromisoformat(status["last_at"]) == at("2021-03-22 00:00")
    assert set(api.stack.registry.status(journey).open_observations) == {"PAN_0001", "PRD_0001"}
    # A party's ids are its own: PRD may use the id PAN used, and one dated before PAN's is
    # taken (a refusal would tell PRD that another party filed later).
    prd_auth = {"Authorization": f"Bearer {prd}"}
    same_id = await api.http.post(f"/api/v1/journeys/{journey}/observations", headers=prd_auth, json={
        "at": at("2021-03-23 10:00").isoformat(), "observation_id": "PAN_0001", "reason": "otra"})
    assert same_id.status_code == 200, same_id.text
    assert sorted(same_id.json()["status"]["open_observations"]) == ["PAN_0001", "PRD_0001"]
    again = await api.http.post(f"/api/v1/journeys/{journey}/observations", headers=prd_auth, json={
        "at": at("2021-03-26 10:00").isoformat(), "observation_id": "PRD_0001", "reason": "otra vez"})
    assert again.status_code == 422 and again.json()["detail"][0]["type"] == "unique-observation"
    # DERFE names the party when two filed the same id.
    resolution = {"at": at("2021-03-27 10:00").isoformat(), "upheld": False, "reason": "reside en el extranjero"}
    url = f"/api/v1/journeys/{journey}/observations/PAN_0001/resolution"
    before = api.stack.registry.recorder.max_notification_id()
    ambiguous = await api.http.post(url, json=resolution, headers=api.auth("reviewer"))
    assert ambiguous.status_code == 422 and ambiguous.json()["detail"][0]["type"] == "observation-party"
    assert api.stack.registry.recorder.max_notification_id() == before
    named = await api.http.post(url, json={**resolution, "party": "PRD"}, headers=api.auth("reviewer"))
    assert named.status_code == 200, named.text
    assert sorted(api.stack.registry.status(journey).observation_parties) == [("PAN_0001", "PAN"),
                                                                             ("PRD_0001", "PRD")]


@session_loop
async def test_a_live_process_takes_no_business_time_ahead_of_the_clock(dev_env, settings):
    from datetime import timedelta

    catalog, process = own_process_catalog()
    now = datetime.now(UTC)
    live = catalog.get(process).model_copy(update={
        "milestone_mode": "live", "registration_opens": now - timedelta(days=30),
        "milestones": {m: now + timedelta(days=30 + i) for i, m in enumerate(MILESTONE_ORDER)},
        "clarification_window_closes": now + timedelta(days=33), "election_day": (now + timedelta(days=90)).date()})
    catalog.add(live)
    rng = random.Random(8)
    async with running_stack(dev_env.client, settings, processes=catalog) as stack:
        ahead = credential(rng)
        envelope = CommandEnvelope.model_validate({"process": process, "clave": ahead["clave"], "command": request(
            ahead, when=now + timedelta(hours=2))})
        with pytest.raises(Refused, match=r"^at: .*\[business-time-future\]$"):
            await stack.journeys.send(envelope)
        assert not await _started(dev_env.client, stack.journeys.workflow_id(envelope))
        assert stack.registry.head() == 0
        on_time = credential(rng)
        filed = await stack.journeys.send(CommandEnvelope.model_validate({"process": process, "clave": on_time["clave"],
                                          "command": request(on_time, when=now - timedelta(minutes=1))}))
        assert filed.stage == "in_review"
