"""README command 1 for real: ``lnere up`` (Temporal dev server on an SQLite file, worker,
projection runner) in a temporary data directory, and a citizen walked through every stage
by the ``lnere`` command line; then a restart, and the data are still there."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lnere.runtime.stack import free_port
from tests.citizens import at, credential, request
from tests.conftest import backend_env

LNERE = [sys.executable, "-m", "lnere.cli.main"]
REPO = Path(__file__).resolve().parent.parent


class Stack:
    def __init__(self, data_dir: Path, backend: dict[str, str] | None = None, cwd: Path = REPO):
        self.data_dir = data_dir
        self.cwd = cwd
        self.port, self.ui_port, self.api_port = free_port(), free_port(), free_port()
        self.env = {**os.environ, "LNERE_DATA_DIR": str(data_dir), "LNERE_TEMPORAL_ADDRESS": f"127.0.0.1:{self.port}",
                    "LNERE_PROJECTION_POLL_INTERVAL": "0.05", **(backend or {})}
        self.process: subprocess.Popen | None = None

    def up(self) -> None:
        self.log = open(self.data_dir.parent / "up.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [*LNERE, "up", "--port", str(self.port), "--ui-port", str(self.ui_port), "--api-port", str(self.api_port)],
            env=self.env, cwd=self.cwd, stdout=subprocess.PIPE, stderr=self.log,
        )
        line = self.process.stdout.readline().decode()
        assert line.startswith("lnere is up"), f"lnere up did not come up: {line!r}, see {self.log.name}"

    def down(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=60)
        self.log.close()
        return code

    def run(self, *args: str, stdin: str | None = None, expect: int = 0) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [*LNERE, *args], env=self.env, cwd=self.cwd, input=stdin, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == expect, f"lnere {' '.join(args)} -> {result.returncode}\n{result.stderr}"
        return result

    def json(self, *args: str, stdin: str | None = None) -> dict:
        return json.loads(self.run(*args, stdin=stdin).stdout)

    def report(self, as_of: str) -> dict:
        # the projection follows the event log within a poll interval; wait for the last event
        deadline = time.monotonic() + 30
        while True:
            report = self.json("report", "--as-of", as_of, "--format", "json")
            head = _event_log_head(self.env)
            if report["log_position"] >= head or time.monotonic() > deadline:
                return report
            time.sleep(0.1)


def _event_log_head(env: dict[str, str]) -> int:
    from lnere.projections.runner import event_log_head
    from lnere.settings import Settings

    fields = {name[len("LNERE_"):].lower(): value for name, value in env.items() if name.startswith("LNERE_")}
    return event_log_head(Settings.model_validate({k: v for k, v in fields.items() if k in Settings.model_fields}))


def _update_payloads(stack: Stack, workflow_id: str):
    """The Update inputs of every run of a journey's workflow, as Temporal stores them (no codec)."""
    import asyncio

    from temporalio.client import Client

    async def fetch():
        client = await Client.connect(f"127.0.0.1:{stack.port}")
        payloads = []
        async for run in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
            history = await client.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
            payloads += [
                p for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")
                for p in e.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads]
        if not payloads:
            raise LookupError(f"workflow {workflow_id} not found")
        return payloads

    return asyncio.run(fetch())


def _through_codec_endpoint(stack: Stack, payloads):
    import urllib.error
    import urllib.request

    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payloads

    body = json_format.MessageToJson(Payloads(payloads=payloads)).encode()
    headers = {"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{stack.ui_port}"}
    url = f"http://127.0.0.1:{stack.api_port}/codec/decode?preserveStorageRefs=true"  # as the Web UI asks
    # Decryption needs a person: without a reviewer's token, nothing.
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="POST", data=body, headers=headers), timeout=10)
        raise AssertionError("the codec endpoint decrypted for a caller without a token")
    except urllib.error.HTTPError as error:
        assert error.code == 401
    token = stack.json("staff", "add", f"codec.reviewer.{len(payloads)}", "--role", "reviewer")["token"]
    request = urllib.request.Request(url, method="POST", data=body,
                                     headers={**headers, "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return list(json_format.Parse(response.read(), Payloads()).payloads)


@pytest.fixture
def stack(tmp_path, postgres_cluster):
    s = Stack(tmp_path / "data", backend_env(postgres_cluster))
    s.cluster = postgres_cluster
    s.up()
    yield s
    if s.process and s.process.poll() is None:
        s.down()


def test_a_citizen_through_every_stage_with_the_cli(stack, tmp_path):
    rng = random.Random(21)
    cred = credential(rng, activated=False)
    clave = cred["clave"]
    credential_file = tmp_path / "credential.json"
    credential_file.write_text(json.dumps({"at": at("2020-09-20 09:00").isoformat(), "credential": cred}))
    status = stack.json("credential", "record", str(credential_file))
    assert status["stage"] == "credential_recorded"
    journey = status["workflow_id"]

    body = request(None, when=at("2020-10-05 11:30"))
    refused = stack.run("request", "file", "-", "--clave", clave, stdin=json.dumps(body), expect=3)
    assert "credential.activated_on: the CPVE is not activated [inetel-needs-activated-cpve]" in refused.stderr

    stack.json("credential", "activate", "--clave", clave, "--at", at("2020-09-25 10:00").isoformat())
    assert stack.json("request", "file", "-", "--clave", clave, stdin=json.dumps(body))["stage"] == "in_review"

    refused = stack.run("review", "decide", "--journey", journey, "--outcome", "inconsistencies", "--reason", "NOPE",
                        "--reviewer", "derfe.ana", "--at", at("2020-10-20 10:00").isoformat(), expect=3)
    assert "[reason-codes]" in refused.stderr
    status = stack.json("review", "decide", "--journey", journey, "--outcome", "inconsistencies",
                        "--reason", "ADDRESS_PROOF_MISSING", "--reviewer", "derfe.ana",
                        "--at", at("2020-10-20 10:00").isoformat())
    assert status["stage"] == "inconsistencies"
    # The subsane carries the document itself: checked, sealed and named by its reference.
    proof = tmp_path / "recibo.pdf"
    proof.write_bytes((REPO / "examples" / "recibo.pdf").read_bytes())
    assert stack.json("subsane", "send", "--journey", journey, "--document", "ADDRESS_PROOF",
                      "--attach", f"ADDRESS_PROOF={proof}",
                      "--at", at("2020-10-25 10:00").isoformat())["stage"] == "in_review"
    sent = [e for e in stack.json("journey", "history", "--journey", journey)["events"]
            if e["event"] == "SubsaneDocumentsReceived"]
    assert [ref["kind"] for ref in sent[0]["files"]] == ["ADDRESS_PROOF"]
    decided = stack.json("review", "decide", "--journey", journey, "--outcome", "meets_requirements",
                         "--reviewer", "derfe.ana", "--at", at("2020-11-02 10:00").isoformat())
    assert decided["stage"] == "meets_requirements"

    report = stack.report("2020-11-30")
    assert report["by_channel"] == {"INETEL": 1, "SRVE": 0, "TOTAL": 1}
    assert report["analysis_status"]["meets_requirements"] == 1
    us = report["by_country_entity"][0]
    assert (us["country"], us["total"], us["by_entity"]["Ciudad de México"]) == ("Estados Unidos de América", 1, 1)
    assert report["by_sex"] == {"Hombres": 0, "Mujeres": 1, "TOTAL": 1}
    assert stack.report("2020-10-01")["by_channel"]["TOTAL"] == 0  # filed on Oct 5

    # lnere up serves the dashboard and the API; a token comes from `lnere staff add`
    import urllib.request

    api = f"http://127.0.0.1:{stack.api_port}"
    with urllib.request.urlopen(f"{api}/", timeout=10) as page:
        assert page.status == 200 and "Avances en la conformación de la" in page.read().decode()
    token = stack.json("staff", "add", "ana.viewer", "--role", "viewer")["token"]
    figures = urllib.request.Request(f"{api}/api/v1/processes/pel-2020-2021/figures",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(figures, timeout=10) as answer:
        live = json.loads(answer.read())
    assert live["report"]["by_channel"]["TOTAL"] == 1 and live["log_position"] == report["log_position"]

    # the stack stops on Ctrl-C and comes back with its data
    assert stack.down() == 0
    stack.up()
    for milestone in ("registration_closed", "inconsistency_notice_deadline", "analysis_deadline",
                      "list_for_review_issued"):
        stack.json("milestone", "fire", milestone)
    # The final registral check from a CSV: our citizen stays, an unknown one is reported.
    unknown = credential(rng)["clave"]
    checks = tmp_path / "registral.csv"
    checks.write_text(f"clave,result,source\n{clave},OK,DERFE-VSR\n{unknown},DECEASED,RENAPO\n")
    checked = stack.run("registral-check", str(checks), "--at", at("2021-04-08 10:00").isoformat(), expect=6)
    assert json.loads(checked.stdout)["refused_by_rule"] == {"journey-exists": 1}
    rejects = [json.loads(t) for t in (tmp_path / "registral.csv.rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2] and unknown not in json.dumps(rejects)
    for milestone in ("observations_closed", "definitive_list"):
        stack.json("milestone", "fire", milestone)
    assert stack.json("journey", "status", "--journey", journey)["stage"] == "included"
    cuts = stack.json("list", "show")
    assert [(c["kind"], c["citizens"]) for c in cuts] == [("review", 1), ("definitive", 1)]
    exported = stack.json("list", "export", "definitive", "--out", str(tmp_path / "lists"), "--state", "09")
    written = [f for f in exported["files"] if f["citizens"]]
    assert len(written) == 1 and all(f["same_as_cut"] for f in exported["files"])
    assert clave in Path(written[0]["file"]).read_text()
    # Files with names and claves are the owner's alone.
    for private in (Path(written[0]["file"]), tmp_path / "registral.csv.rejects.jsonl"):
        assert private.stat().st_mode & 0o077 == 0, private
    assert stack.json("list", "departures")["left"] == 0
    history = stack.json("journey", "history", "--clave", clave)
    assert [e["event"] for e in history["events"]][-4:] == ["ListedForReview", "RegistralCheckRecorded",
                                                             "IncludedInDefinitiveList", "DeliveryRecorded"]
    assert history["events"][-1]["status"] == "postal_sent"  # the request chose the postal vote

    report = stack.report("2021-04-30")
    assert report["stages"]["included"] == 1
    markdown = stack.run("report", "--as-of", "2021-04-30", "--format", "md").stdout
    assert "| 1 Estados Unidos de América | 1 |" in markdown
    assert "| SIILNERE que cumplen los requisitos | 1 |" in markdown

    # The fortnightly progress reports of this replayed process: every issue from September to
    # March is due (its business days passed them); each is recorded once and made again equal.
    first = stack.json("reports", "issue")
    assert sorted(first["issued"] + first["already"]) == list(range(1, 14))
    assert stack.json("reports", "issue") == {"issued": [], "already": list(range(1, 14))}
    listed = stack.json("reports", "list")
    assert [r["number"] for r in listed] == list(range(1, 14)) and listed[0]["as_of"] == "2020-09-15"
    assert stack.json("reports", "verify", "13")["same"] is True
    saved = stack.json("reports", "get", "5", "--format", "csv", "--out", str(tmp_path / "report-5.csv"))
    assert saved["sha256"] == listed[4]["sha256"]["csv"]
    assert "position-future" in stack.run("reports", "derive", "--position", "999999999", expect=2).stderr
    assert stack.json("reports", "pause")["paused"] is True
    assert stack.json("reports", "resume")["paused"] is False
    assert "has issues 1 to 13" in stack.run("reports", "get", "14", expect=4).stderr

    # Temporal holds the request encrypted; its Web UI reads it through the stack's codec endpoint
    raw = _update_payloads(stack, journey)
    assert raw and all(clave.encode() not in p.data for p in raw)
    decoded = _through_codec_endpoint(stack, raw)
    assert any(clave.encode() in p.data for p in decoded)

    # Erasure (crypto-shredding): refused while the journey is open is tested in test_erasure;
    # here the ended journey loses its personal data, its Temporal history, not its counts.
    assert history["personal_data"]["credential"]["clave"] == clave
    erased = stack.json("journey", "erase", "--journey", journey, "--staff", "derfe.admin",
                        "--reason", "retention period over", "--at", at("2021-06-30 10:00").isoformat())
    # One run per accepted command (a run ends once its command is handled: six CLI commands,
    # the registral check and the erasure itself; milestones and the delivery went to the event
    # store in bulk). The two refused commands were refused before any run started.
    assert erased["temporal_history"] == "8 run(s) deleted"
    after = stack.json("journey", "history", "--journey", journey)
    assert after["personal_data"] is None and after["events"][-1]["event"] == "PersonalDataErased"
    assert clave not in json.dumps(after)
    assert stack.report("2021-04-30")["by_channel"] == report["by_channel"]
    deadline = time.monotonic() + 120  # Temporal deletes asynchronously (~35 s on the dev server)
    while True:
        try:
            _update_payloads(stack, journey)
        except Exception as error:  # noqa: BLE001 - the RPC error of a deleted execution
            assert "not found" in str(error).lower(), error
            break
        assert time.monotonic() < deadline, "the journey's Temporal history was not deleted"
        time.sleep(0.5)

    # no personal data in the logs of the stack, nor in clear in any of its files: Temporal's
    # database (payloads encrypted by the codec), the event store (eventsourcing's cipher),
    # the projections
    stack.down()
    logs = (tmp_path / "up.log").read_text(errors="replace")
    personal = (clave, cred["holder"]["paternal_surname"], "citizen@example.org", "1200 W 7th St")
    for secret in personal:
        assert secret not in logs
    files = [p for p in stack.data_dir.rglob("*") if p.is_file() and p.name != "secrets.json"]
    assert stack.data_dir.stat().st_mode & 0o077 == 0  # the data dir and all in it: the owner's alone
    assert [p.name for p in stack.data_dir.rglob("*") if p.stat().st_mode & 0o077] == []
    if stack.cluster is None:
        assert {p.name for p in files} >= {"temporal.db", "events.sqlite"}
        assert any(re.fullmatch(r"journey_counts\.[0-9a-f]{12}\.sqlite", p.name) for p in files)  # its version
    else:  # the event store, the keys and the view are in the PostgreSQL cluster's files
        assert {p.name for p in files} >= {"temporal.db"}
        files += [p for p in stack.cluster.data.rglob("*") if p.is_file()]
    for path in files:
        content = path.read_bytes()
        for secret in personal:
            for encoded in (secret.encode(), secret.encode("utf-16-le")):
                assert encoded not in content, f"{secret!r} in clear in {path.name}"


def test_import_a_command_file_and_report_as_csv(stack, tmp_path):
    example = str(REPO / "examples" / "commands.jsonl")
    summary = json.loads(stack.run("import", example, "--rejects", str(tmp_path / "rejects.jsonl")).stdout)
    assert (summary["lines"], summary["accepted"], summary["refused"]) == (11, 11, 0)
    assert (summary["journeys"], summary["milestones"]) == (2, 3)
    again = json.loads(stack.run("import", example, "--rejects", str(tmp_path / "rejects.jsonl")).stdout)
    assert again["resumed_lines"] == 11

    def csv_cells(as_of: str) -> dict[tuple[str, str, str], int]:
        stack.report(as_of)  # waits for the projection to reach the log head
        text = stack.run("report", "--as-of", as_of, "--format", "csv").stdout
        rows = list(csv.DictReader(io.StringIO(text)))
        return {(r["table"], r["row"], r["column"]): int(r["value"]) for r in rows}

    # Rosa (INETEL, CPVE) filed on Oct 1 and met the requirements after a subsane; Jorge (SRVE,
    # CPV, Canada) filed on Nov 2, had inconsistencies and never corrected them.
    october = csv_cells("2020-10-31")
    assert october[("by_channel", "SIILNERE", "TOTAL")] == 1
    assert october[("analysis_status", "meets_requirements", "TOTAL")] == 1
    march = csv_cells("2021-03-31")
    assert march[("by_credential_channel", "CPV", "SRVE")] == 1
    assert march[("by_country_entity", "CA", "Jalisco")] == 1
    assert march[("analysis_status", "rejected", "TOTAL")] == 1  # the subsane deadline passed
    assert march[("analysis_status", "inconsistencies", "TOTAL")] == 0

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"process": "pel-2020-2021", "clave": "nope", "command": {}}\n')
    refused = stack.run("import", str(bad), expect=6)
    assert "1 line(s) refused" in refused.stderr
    listed = json.loads((tmp_path / "bad.jsonl.rejects.jsonl").read_text())
    assert (listed["line"], listed["rule"]) == (1, "invalid-line")

    out = tmp_path / "seed.jsonl"
    stack.run("simulate", "seed-2020-11-30", "--no-import", "--out", str(out))
    # Every line of the scenario (deterministic: test_import checks what it makes against the
    # published figures), written whole by the CLI.
    assert sum(1 for _ in out.open()) == 101_540
    assert "unknown scenario" in stack.run("simulate", "no-such-scenario", expect=2).stderr

    logs = (tmp_path / "up.log").read_text(errors="replace")
    for secret in ("VEDIRO79061516M4A1", "Vega", "rosa.vega@example.org", "210 King St E"):
        assert secret not in logs
