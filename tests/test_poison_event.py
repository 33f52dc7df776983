"""A poison event can never halt the registry (issue 14): an event the projection cannot apply
is injected below the domain into the event store of a stack run by ``lnere up``. The projection
halts at it with the reason recorded; the worker, the API and Temporal keep serving; the
figures say they are stale; an operator skips the event (recorded) and the projection goes on.
A component killed under ``lnere up`` is started again, the others untouched."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

from tests.citizens import at, credential, request
from tests.conftest import backend_env
from tests.test_cli_end_to_end import Stack, _event_log_head


def _get(url: str, token: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _until(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _children(pid: int) -> dict[str, int]:
    out = subprocess.run(["pgrep", "-a", "-P", str(pid)], capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        child, _, command = line.partition(" ")
        for name in ("projections.runner", "worker", "api"):
            if command.endswith(f"-m lnere.{name}"):
                found[name] = int(child)
    return found


def _settings(env: dict[str, str]):
    from lnere.settings import Settings

    fields = {name[len("LNERE_"):].lower(): value for name, value in env.items() if name.startswith("LNERE_")}
    return Settings.model_validate({k: v for k, v in fields.items() if k in Settings.model_fields})


def test_a_poison_event_halts_only_the_projection_and_an_operator_recovers(tmp_path, postgres_cluster):
    stack = Stack(tmp_path / "data", {**backend_env(postgres_cluster), "LNERE_PROJECTION_HALT_RETRY": "0.5"})
    stack.up()
    try:
        rng = random.Random(31)
        citizen = credential(rng)
        filed = stack.json("request", "file", "-", "--clave", citizen["clave"],
                           stdin=json.dumps(request(citizen, when=at("2020-10-05 10:00"))))
        journey = filed["workflow_id"]
        token = stack.json("staff", "add", "ana.viewer", "--role", "viewer")["token"]
        api = f"http://127.0.0.1:{stack.api_port}"

        # Below the domain: a review decision at year 1, which no entry point accepts any more.
        from lnere.store.registry import JourneyRegistry

        registry = JourneyRegistry(env=_settings(stack.env).event_store_env())
        try:
            aggregate = registry.repository.get(registry.history(journey)[0].originator_id)
            aggregate._review_decided(at=datetime(1, 1, 1, tzinfo=UTC), command_id="poison", reviewer="x",
                                      outcome="meets_requirements", reasons=[], notes=None)
            registry.save(aggregate)
            poison = registry.recorder.max_notification_id()
        finally:
            registry.close()

        status = _until(lambda: (s := stack.json("projections", "status"))["halt"] and s, what="the halt")
        assert status["halt"]["position"] == poison and "OverflowError" in status["halt"]["error"]
        assert status["position"] == poison - 1  # every event before it counts
        code, ready = _get(f"{api}/readyz")
        assert code == 503 and ready["projection"]["halt"]["position"] == poison
        runner_health = json.loads((stack.data_dir / "stack.json").read_text())["health"]["projections"]
        code, ready = _until(lambda: (answer := _get(f"{runner_health}/readyz"))[0] == 503 and answer,
                             what="the runner's readiness to go red")
        assert f"halted before event {poison}" in ready["reasons"][0]
        assert stack.run("status", expect=5)
        code, figures = _get(f"{api}/api/v1/processes/pel-2020-2021/figures", token)
        assert code == 200 and figures["projection"]["stale"] is True
        assert figures["log_position"] == poison - 1
        # The rest of the stack serves: a new request is recorded.
        other = credential(rng)
        stack.json("request", "file", "-", "--clave", other["clave"],
                   stdin=json.dumps(request(other, when=at("2020-10-06 10:00"))))
        assert _event_log_head(stack.env) > poison
        assert stack.process.poll() is None

        # The operator passes over the event; it is recorded and the projection catches up.
        stack.run("projections", "skip", "--position", str(poison + 1), "--reason", "x", "--staff", "s", expect=2)
        stack.json("projections", "skip", "--position", str(poison), "--reason", "injected by the test",
                   "--staff", "derfe.admin")
        head = _event_log_head(stack.env)
        status = _until(lambda: (s := stack.json("projections", "status"))["position"] >= head and s,
                        what="the projection to catch up")
        assert status["halt"] is None and [s["position"] for s in status["skipped_events"]] == [poison]
        code, ready = _get(f"{api}/readyz")
        assert code == 200
        assert _until(lambda: _get(f"{runner_health}/readyz")[0] == 200, what="the runner's readiness back")
        code, figures = _get(f"{api}/api/v1/processes/pel-2020-2021/figures", token)
        assert figures["projection"]["stale"] is False
        assert figures["projection"]["skipped_events"][0]["position"] == poison
        assert figures["report"]["by_channel"]["TOTAL"] == 2

        # A component killed under lnere up is started again; the API never stopped.
        runner = _children(stack.process.pid)["projections.runner"]
        subprocess.run(["kill", "-9", str(runner)], check=True)
        restarted = _until(lambda: (c := _children(stack.process.pid).get("projections.runner")) not in (None, runner)
                           and c, what="the runner to be started again")
        assert restarted != runner
        assert _get(f"{api}/healthz")[0] == 200
        third = credential(rng)
        stack.json("request", "file", "-", "--clave", third["clave"],
                   stdin=json.dumps(request(third, when=at("2020-10-07 10:00"))))
        head = _event_log_head(stack.env)
        _until(lambda: stack.json("projections", "status")["position"] >= head, what="the restarted runner")
    finally:
        if stack.process and stack.process.poll() is None:
            stack.process.send_signal(signal.SIGINT)
            stack.process.wait(timeout=60)
