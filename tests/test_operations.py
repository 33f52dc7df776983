"""Running it like production: lnere up started outside the repository on ports of its own is
found by later commands through its data dir; its components are watched through /metrics,
/healthz and /readyz (a scrape during an import shows the counters move; readiness goes red
while Temporal does not answer and green again after); every component logs JSON lines."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.citizens import at, credential, request
from tests.conftest import backend_env
from tests.test_cli_end_to_end import LNERE, Stack

COMPONENTS = {"api", "worker", "projections"}


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _sample(text: str, name: str, **labels: str) -> float:
    """A sample's value in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(part.split("=", 1) for part in line[line.find("{") + 1:line.find("}")].split(",")
                         if "=" in part) if "{" in line else {}
            if all(found.get(k) == f'"{v}"' for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def _until(check, timeout: float = 60.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


def _temporal_server(up_pid: int) -> int:
    for child in Path(f"/proc/{up_pid}/task/{up_pid}/children").read_text().split():
        if "temporal" in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace").split("\0")[0]:
            return int(child)
    raise AssertionError("no Temporal server under lnere up")


def test_a_stack_on_its_own_ports_is_found_watched_and_logs_json(tmp_path, postgres_cluster):
    work = tmp_path / "elsewhere"  # not the repository: nothing may depend on the current directory
    work.mkdir()
    stack = Stack(tmp_path / "data", backend_env(postgres_cluster), cwd=work)
    del stack.env["LNERE_TEMPORAL_ADDRESS"]  # later commands find Temporal through the data dir
    stack.up()
    try:
        served = json.loads((tmp_path / "data" / "stack.json").read_text())
        assert served["temporal_address"] == f"127.0.0.1:{stack.port}" and served["pid"] == stack.process.pid
        status = stack.json("status")
        assert status["ready"] is True and set(status["components"]) == COMPONENTS, status
        health = served["health"]
        assert set(health) == COMPONENTS
        for url in health.values():
            assert _get(f"{url}/healthz")[0] == 200

        # A command with no --address reaches that stack; who acts is recorded from --staff.
        rng = random.Random(5)
        citizen = credential(rng)
        filed = stack.json("--staff", "inetel.7", "request", "file", "-", "--clave", citizen["clave"],
                           stdin=json.dumps(request(citizen, when=at("2020-10-05 10:00"))))
        history = stack.json("journey", "history", "--journey", filed["journey_id"])  # its journey_id is taken
        assert history["journey"] == filed["workflow_id"]
        assert {e.get("recorded_by") for e in history["events"] if "recorded_by" in e} == {"inetel.7"}
        assert "not a journey id" in stack.run("journey", "status", "--journey", "nope", expect=2).stderr
        assert "clave:" in stack.run("journey", "status", "--clave", "ABC", expect=2).stderr
        assert "no process" in stack.run("--process", "no-such", "journey", "status", "--clave",
                                         citizen["clave"], expect=4).stderr

        # Metrics scraped while an import runs: the worker's commands and the projection move.
        lines = [json.dumps({"process": "pel-2020-2021", "clave": c["clave"],
                             "command": request(c, when=at("2020-10-06 10:00"))})
                 for c in (credential(rng) for _ in range(400))]
        commands = tmp_path / "import.jsonl"
        commands.write_text("\n".join(lines) + "\n")
        worker, projections, api = (health[name] for name in ("worker", "projections", "api"))
        scrapes: list[tuple[float, float]] = []
        done = threading.Event()

        def scrape() -> None:
            while not done.is_set():
                recorded = _sample(_get(f"{worker}/metrics")[1].decode(), "lnere_commands_total",
                                   kind="file_request", outcome="recorded")
                position = _sample(_get(f"{projections}/metrics")[1].decode(), "lnere_projection_position",
                                   projection="journey_counts")
                scrapes.append((recorded, position))
                time.sleep(0.5)

        scraper = threading.Thread(target=scrape)
        scraper.start()
        try:
            stack.run("import", str(commands))
        finally:
            done.set()
            scraper.join()
        recorded_seen = sorted({r for r, _ in scrapes})
        positions_seen = sorted({p for _, p in scrapes})
        assert len(recorded_seen) >= 3 and len(positions_seen) >= 3, scrapes  # they moved during the import
        worker_text = _get(f"{worker}/metrics")[1].decode()
        assert _sample(worker_text, "lnere_commands_total", kind="file_request", outcome="recorded") >= 400
        assert "temporal_" in worker_text  # the SDK's own metrics on the same endpoint
        runner_text = _until(lambda: (t := _get(f"{projections}/metrics")[1].decode())
                             and _sample(t, "lnere_projection_lag_events", projection="journey_counts") == 0
                             and t, what="the projection to catch up")
        assert _sample(runner_text, "lnere_projection_position", projection="journey_counts") == \
            _sample(runner_text, "lnere_projection_log_head", projection="journey_counts") > 0
        assert _get(f"{api}/api/v1/processes/pel-2020-2021/figures")[0] == 200  # published: no token
        api_text = _get(f"{api}/metrics")[1].decode()
        assert 'handler="/api/v1/processes/{process}/figures"' in api_text  # latency by route template

        # Readiness goes red while Temporal does not answer (its server stopped), green after.
        server = _temporal_server(stack.process.pid)
        os.kill(server, signal.SIGSTOP)
        try:
            _until(lambda: _get(f"{worker}/readyz")[0] == 503, what="the worker not ready")
            code, body = _get(f"{api}/readyz")
            assert code == 503 and any("Temporal" in r for r in json.loads(body)["reasons"]), body
            not_ready = stack.run("status", expect=5)
            assert json.loads(not_ready.stdout)["components"]["worker"]["ready"] is False
            assert _get(f"{projections}/readyz")[0] == 200  # the projection does not need Temporal
        finally:
            os.kill(server, signal.SIGCONT)
        _until(lambda: _get(f"{worker}/readyz")[0] == 200 and _get(f"{api}/readyz")[0] == 200,
               what="readiness back")
        assert stack.json("status")["ready"] is True
    finally:
        assert stack.down() == 0
    assert not (tmp_path / "data" / "stack.json").exists()  # gone with the stack

    # Every line every component wrote is one JSON object naming its component.
    seen = set()
    for number, line in enumerate((tmp_path / "up.log").read_text().splitlines(), start=1):
        record = json.loads(line)  # a line that is not JSON fails here
        assert {"event", "level", "timestamp", "component"} <= record.keys(), (number, line)
        assert "\x1b[" not in line and "<traceback object" not in line, (number, line)
        seen.add(record["component"])
    assert {"up", "temporal", "worker", "projections", "api"} <= seen, seen


def test_a_missing_data_dir_is_named_and_never_created(tmp_path):
    env = {**os.environ, "LNERE_DATA_DIR": str(tmp_path / "nowhere")}
    for args in (["status"], ["report"], ["journey", "status", "--clave", "A" * 18]):
        answer = subprocess.run([*LNERE, *args], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
        assert answer.returncode == 2 and "nowhere" in answer.stderr, (args, answer.stderr)
    assert not (tmp_path / "nowhere").exists()
