"""Concurrent commands on one journey, on the real dev server: two reviewers deciding at once,
and the same command sent twice at once."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest

from lnere.domain.commands import CommandEnvelope
from lnere.domain.process import ProcessCatalog
from lnere.domain.refusals import Refused
from tests.citizens import at, credential, request
from tests.conftest import running_stack

pytestmark = pytest.mark.asyncio(loop_scope="session")


def own_process() -> tuple[ProcessCatalog, str]:
    catalog = ProcessCatalog.load()
    process = catalog.get("pel-2020-2021").model_copy(update={"id": f"pel-test-{uuid.uuid4().hex[:12]}"})
    catalog.add(process)
    return catalog, process.id


def decision(process: str, journey: str, reviewer: str, outcome: str, *reasons: str) -> CommandEnvelope:
    return CommandEnvelope.model_validate({"process": process, "journey": journey, "command": {
        "kind": "decide_review", "at": at("2020-10-20 10:00").isoformat(), "reviewer": reviewer,
        "outcome": outcome, "reasons": list(reasons)}})


async def filed_journey(stack, process: str, rng: random.Random) -> str:
    cred = credential(rng)
    status = await stack.journeys.send(CommandEnvelope.model_validate(
        {"process": process, "clave": cred["clave"], "command": request(cred, when=at("2020-10-01 10:00"))}))
    return status.workflow_id


async def test_two_reviewers_at_once_exactly_one_wins(dev_env, settings):
    catalog, process = own_process()
    rng = random.Random(17)
    async with running_stack(dev_env.client, settings, processes=catalog) as stack:
        for _ in range(5):
            journey = await filed_journey(stack, process, rng)
            results = await asyncio.gather(
                stack.journeys.send(decision(process, journey, "derfe.ana", "meets_requirements")),
                stack.journeys.send(decision(process, journey, "derfe.beto", "inconsistencies", "SIGNATURE_MISSING")),
                return_exceptions=True,
            )
            winners = [r for r in results if not isinstance(r, BaseException)]
            losers = [r for r in results if isinstance(r, BaseException)]
            assert len(winners) == 1 and len(losers) == 1, results
            assert isinstance(losers[0], Refused)
            # refused by the validator (the winner was done) or after it (both were admitted)
            assert "[wrong-stage]" in str(losers[0]), str(losers[0])
            decided = [e for e in stack.registry.history(journey) if type(e).__name__ == "ReviewDecided"]
            assert len(decided) == 1 and decided[0].outcome == winners[0].stage


async def test_the_same_command_twice_at_once_is_recorded_once(dev_env, settings):
    catalog, process = own_process()
    rng = random.Random(18)
    async with running_stack(dev_env.client, settings, processes=catalog) as stack:
        journey = await filed_journey(stack, process, rng)
        same = decision(process, journey, "derfe.ana", "meets_requirements")
        first, second = await asyncio.gather(stack.journeys.send(same), stack.journeys.send(same))
        assert first == second and first.stage == "meets_requirements"
        decided = [e for e in stack.registry.history(journey) if type(e).__name__ == "ReviewDecided"]
        assert len(decided) == 1
