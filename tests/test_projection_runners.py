"""One projection runner works at a time: a second one waits on standby and takes over when the
first stops, without counting any event twice or missing one (SQLite or PostgreSQL, as the
suite runs)."""

from __future__ import annotations

import random
import threading
import time

from lnere.domain.commands import CommandEnvelope
from lnere.domain.process import ProcessCatalog
from lnere.projections.runner import start_runner, wait_for_position
from lnere.store.registry import JourneyRegistry
from tests.citizens import at, credential, request
from tests.recount import recount


def file_requests(registry: JourneyRegistry, rng: random.Random, n: int) -> None:
    process = ProcessCatalog.load().get("pel-2020-2021")
    for _ in range(n):
        citizen = credential(rng)
        command = CommandEnvelope.model_validate({"process": process.id, "clave": citizen["clave"],
                                                  "command": request(citizen, when=at("2020-10-05 10:00"))}).command
        workflow_id = f"journey-{process.id}-{rng.getrandbits(128):032x}"
        registry.record_commands(process, workflow_id, [command])


def test_a_standby_runner_takes_over_when_the_first_stops(settings):
    rng = random.Random(3)
    registry = JourneyRegistry(env=settings.event_store_env())
    try:
        file_requests(registry, rng, 5)
        first = start_runner(settings)
        standby: list = []
        waiting = threading.Thread(target=lambda: standby.append(start_runner(settings)), daemon=True)
        waiting.start()
        wait_for_position(first.view, registry.recorder.max_notification_id(), 30)
        time.sleep(1.5)
        assert not standby, "a second runner worked while the first held the lock"
        file_requests(registry, rng, 5)
        wait_for_position(first.view, registry.recorder.max_notification_id(), 30)
        first.__exit__(None, None, None)  # stops: the standby one takes the lock
        waiting.join(timeout=30)
        assert standby, "the standby runner did not take over"
        second = standby[0]
        try:
            file_requests(registry, rng, 5)
            wait_for_position(second.view, registry.recorder.max_notification_id(), 30)
            assert second.view.counts_as_of("pel-2020-2021", None) == recount(registry)
            assert sum(second.view.counts_as_of("pel-2020-2021", None)["sex"].values()) == 15
        finally:
            second.__exit__(None, None, None)
    finally:
        registry.close()
