"""Refusals are typed end to end: the rule's field, name and kind reach the gateway's caller,
the API's status code and body, and the CLI's exit code, with nothing parsed from a message;
an engine that does not answer is a kind of its own (503, exit 5) and records nothing."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lnere.domain.commands import CommandEnvelope
from lnere.domain.refusals import RefusalKind, Refused
from lnere.runtime.stack import free_port
from lnere.store.registry import JourneyRegistry
from tests.citizens import at, credential, request
from tests.conftest import backend_env, own_process_catalog, running_stack

session_loop = pytest.mark.asyncio(loop_scope="session")
REPO = Path(__file__).resolve().parent.parent


@session_loop
async def test_the_gateway_raises_the_rules_refusal_typed(dev_env, settings):
    catalog, process = own_process_catalog()
    rng = random.Random(41)
    async with running_stack(dev_env.client, settings, processes=catalog) as stack:
        citizen = credential(rng)
        filed = await stack.journeys.send(CommandEnvelope.model_validate(
            {"process": process, "clave": citizen["clave"], "command": request(citizen, when=at("2020-10-01 10:00"))}))
        cases = [  # (command, field, rule, kind)
            ({"kind": "decide_review", "at": "0001-01-01T00:00:00+00:00", "reviewer": "r",
              "outcome": "meets_requirements"}, "at", "business-time-bounds", RefusalKind.INVALID),
            ({"kind": "reopen_rejection", "at": at("2020-10-02 10:00").isoformat(), "staff": "r",
              "clarification": "x"}, "journey", "wrong-stage", RefusalKind.CONFLICT),
            # A delivery goes through the gateway like any command (its Update and activity are
            # derived from the command table; it used to have neither).
            ({"kind": "record_delivery", "at": at("2020-10-02 10:00").isoformat(), "status": "postal_sent",
              "reference": "MX-1"}, "journey", "wrong-stage", RefusalKind.CONFLICT),
        ]
        for command, field, rule, kind in cases:
            with pytest.raises(Refused) as refused:
                await stack.journeys.send(CommandEnvelope.model_validate(
                    {"process": process, "journey": filed.workflow_id, "command": command}))
            assert (refused.value.refusal.field, refused.value.refusal.rule, refused.value.refusal.kind) == (
                field, rule, kind)
            assert str(refused.value).endswith(f"[{rule}]")
        stranger = "journey-" + process + "-" + "0" * 32
        with pytest.raises(Refused) as refused:
            await stack.journeys.send(CommandEnvelope.model_validate({
                "process": process, "journey": stranger, "command": {
                    "kind": "decide_review", "at": at("2020-10-02 10:00").isoformat(), "reviewer": "r",
                    "outcome": "meets_requirements"}}))
        assert (refused.value.refusal.rule, refused.value.refusal.kind) == ("journey-exists", RefusalKind.NOT_FOUND)


async def test_the_api_answers_each_kind_with_its_status(api):
    rng = random.Random(42)
    citizen = credential(rng)
    body = {k: v for k, v in request(citizen, when=at("2020-10-05 10:00")).items() if k != "kind"}
    filed = await api.http.post(f"/api/v1/processes/{api.process}/requests", json=body, headers=api.auth("operator"))
    assert filed.status_code == 200, filed.text
    journey = filed.json()["journey"]
    reviewer = api.auth("reviewer")
    invalid = await api.http.post(f"/api/v1/journeys/{journey}/review", headers=reviewer, json={
        "at": "0001-01-01T00:00:00+00:00", "outcome": "meets_requirements"})
    assert invalid.status_code == 422, invalid.text
    [detail] = invalid.json()["detail"]
    assert (detail["loc"], detail["type"]) == (["body", "at"], "business-time-bounds")
    conflict = await api.http.post(f"/api/v1/journeys/{journey}/rejection-reopening", headers=reviewer, json={
        "at": at("2020-10-06 10:00").isoformat(), "clarification": "x"})
    assert conflict.status_code == 409, conflict.text
    answer = conflict.json()
    assert (answer["field"], answer["rule"], answer["kind"]) == ("journey", "wrong-stage", "conflict")
    assert answer["detail"].endswith("[wrong-stage]")


def _env(settings, **extra: str) -> dict[str, str]:
    """The environment of a process the test starts over the test's data dir and keys."""
    return {**os.environ, "LNERE_DATA_DIR": str(settings.data_dir), "LNERE_JOURNEY_KEY": settings.journey_key,
            "LNERE_CIPHER_KEY": settings.cipher_key, "LNERE_PAYLOAD_KEYS": settings.payload_keys, **extra}


def test_an_engine_that_does_not_answer_is_503_and_exit_5_and_records_nothing(settings, postgres_cluster):
    registry = JourneyRegistry(env=settings.event_store_env())  # the data dir of a stack whose Temporal is down
    registry.close()
    dead = f"127.0.0.1:{free_port()}"
    env = _env(settings, LNERE_TEMPORAL_ADDRESS=dead, **backend_env(postgres_cluster))
    citizen = credential(random.Random(43))
    recorded = settings.data_dir / "credential.json"
    recorded.write_text(json.dumps({"at": at("2020-09-20 09:00").isoformat(), "credential": citizen}))
    cli = subprocess.run([sys.executable, "-m", "lnere.cli.main", "credential", "record", str(recorded)], env=env,
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 5, cli.stderr
    assert f"cannot reach Temporal at {dead}" in cli.stderr and citizen["clave"] not in cli.stderr

    port = free_port()
    api = subprocess.Popen([sys.executable, "-m", "lnere.api"], env={**env, "LNERE_API_PORT": str(port)}, cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from lnere.application.staff import StaffDirectory
        from lnere.domain.roles import Role

        token = StaffDirectory(settings.staff_path).add("ana.operator", Role.OPERATOR)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and api.poll() is None, "the API did not start"
            time.sleep(0.2)
        answer = httpx.post(f"{base}/api/v1/processes/pel-2020-2021/credentials", timeout=60,
                            headers={"Authorization": f"Bearer {token}"},
                            json={"at": at("2020-09-20 09:00").isoformat(), "credential": citizen})
        assert answer.status_code == 503, answer.text
        assert answer.json()["kind"] == "unavailable" and citizen["clave"] not in answer.text
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200  # the API still serves
    finally:
        api.terminate()
        api.wait(timeout=30)
    registry = JourneyRegistry(env=settings.event_store_env())
    try:
        assert registry.head() == 0  # nothing recorded
    finally:
        registry.close()
