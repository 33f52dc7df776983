"""Runs the projections over the journey registry's event log until stopped.

``python -m projections.runner`` (started by ``lnere up``). Stopping it at any point is safe:
each event's view update and tracking record commit together, and a new runner resumes from
the tracking position.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from eventsourcing.projection import ProjectionRunner
from eventsourcing.sqlite import SQLiteDatastore

import logs
from domain.registry import JourneyRegistry
from projections.journey_counts import JourneyCountsProjection, JourneyCountsView
from projections.polling import POLL_INTERVAL_ENV, RECORDER_TOPIC
from settings import Settings

log = logs.get_logger("lnere.projections")


def runner_env(settings: Settings) -> dict[str, str]:
    name = JourneyCountsProjection.name.upper()
    env = settings.event_store_env()
    env.update(
        {
            "APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC,
            f"{name}_PERSISTENCE_MODULE": "eventsourcing.sqlite",
            f"{name}_SQLITE_DBNAME": str(settings.projection_db(JourneyCountsProjection.name)),
            f"{name}_SQLITE_LOCK_TIMEOUT": "30",
        }
    )
    return env


def start_runner(settings: Settings) -> ProjectionRunner:
    os.environ.setdefault(POLL_INTERVAL_ENV, str(settings.projection_poll_interval))
    runner = ProjectionRunner(
        application_class=JourneyRegistry,
        projection_class=JourneyCountsProjection,
        view_class=JourneyCountsView,
        env=runner_env(settings),
    )
    return runner.__enter__()


def open_view(settings: Settings) -> JourneyCountsView:
    """A reader of the projection's view (dashboards, reports, the milestone fan-out)."""
    path = settings.projection_db(JourneyCountsProjection.name)
    view = JourneyCountsView(SQLiteDatastore(str(path), lock_timeout=30))
    view.create_table()
    return view


def wait_for_position(view: JourneyCountsView, position: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while view.position() < position:
        if time.monotonic() > deadline:
            raise TimeoutError(f"projection journey_counts is at {view.position()}, expected {position}")
        time.sleep(0.05)


def event_log_head(settings: Settings) -> int:
    """The position of the last event recorded in the journey registry."""
    registry = JourneyRegistry(env=settings.event_store_env())
    try:
        return registry.recorder.max_notification_id() or 0
    finally:
        registry.close()


def wait_for_head(settings: Settings, view: JourneyCountsView, timeout: float = 600.0, report=None) -> int:
    """Waits until the projection has processed every event recorded so far; ``report`` is
    called with (position, head) while it waits."""
    head = event_log_head(settings)
    deadline = time.monotonic() + timeout
    while (position := view.position()) < head:
        if report is not None:
            report(position, head)
        if time.monotonic() > deadline:
            raise TimeoutError(f"projection journey_counts is at {position} of {head} events after {timeout:.0f} s"
                               " (is the projection runner running? lnere up starts it)")
        time.sleep(0.1)
    return head


def main() -> None:
    logs.configure()
    settings = Settings.from_env()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runner = start_runner(settings)
    log.info("projection runner started", projection=JourneyCountsProjection.name, position=runner.view.position())
    last = -1
    try:
        while not stop.is_set():
            runner.run_forever(timeout=1.0)  # re-raises an error of the processing thread
            if runner.is_interrupted.is_set():
                break
            position = runner.view.position()
            if position != last:
                log.info("projection position", projection=JourneyCountsProjection.name, position=position)
                last = position
    finally:
        runner.__exit__(None, None, None)
        log.info("projection runner stopped", position=runner.view.position())


if __name__ == "__main__":
    main()

