"""Runs the projections over the journey registry's event log until stopped. One runner per
projection works at a time (``RunnerLock``); others wait on standby.

``python -m projections.runner`` (started by ``lnere up``). Events are applied in batches:
all the events available (up to ``BATCH_SIZE``) in one transaction with the tracking record of the
last, so stopping at any point is safe (a batch counts whole or not at all) and a new runner
resumes from the tracking position.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, TextIO, cast

from eventsourcing.persistence import IntegrityError, OperationalError, Tracking
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.utils import resolve_topic

from lnere import logs, metrics
from lnere.metrics import HealthServer
from lnere.projections.journey_counts import (
    CountsView,
    JourneyCountsProjection,
    JourneyCountsView,
    PostgresJourneyCountsView,
)
from lnere.projections.polling import (
    POLL_INTERVAL_ENV,
    POSTGRES_RECORDER_TOPIC,
    RECORDER_TOPIC,
    PollingSubscription,
    RowSource,
    StoredRow,
)
from lnere.settings import Settings
from lnere.store.registry import JourneyRegistry

log = logs.get_logger("lnere.projections")

# Events applied per transaction at most (catch-up); live, a batch is what arrived since the last poll.
BATCH_SIZE = 5000


def runner_env(settings: Settings) -> dict[str, str]:
    name = JourneyCountsProjection.name.upper()
    env = settings.event_store_env()
    if settings.persistence == "postgres":
        return {**env, "APPLICATION_RECORDER_TOPIC": POSTGRES_RECORDER_TOPIC}
    env.update(
        {
            "APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC,
            f"{name}_PERSISTENCE_MODULE": "eventsourcing.sqlite",
            f"{name}_SQLITE_DBNAME": str(view_path(settings)),
            f"{name}_SQLITE_LOCK_TIMEOUT": "30",
        }
    )
    return env


class RunnerLock:
    """Only one runner per projection works; another waits on standby and takes over when the
    first stops or dies. SQLite: an exclusive ``flock`` on a file beside the view (released by
    the kernel when the process dies). PostgreSQL: a session advisory lock (released when its
    connection ends)."""

    KEY = 0x6C6E657265  # "lnere"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._file: TextIO | None = None
        self._connection: Any = None  # a psycopg connection, once asked for

    def try_acquire(self) -> bool:
        if self.settings.persistence == "postgres":
            import psycopg

            from lnere.store.registry import postgres_conninfo

            if self._connection is None:
                self._connection = psycopg.connect(postgres_conninfo(self.settings.postgres_env()), autocommit=True)
            return bool(self._connection.execute("SELECT pg_try_advisory_lock(%s)", (self.KEY,)).fetchone()[0])
        import fcntl

        if self._file is None:
            self._file = open(view_path(self.settings).with_suffix(".lock"), "a")  # noqa: SIM115
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def acquire(self, stopped: threading.Event | None = None, interval: float = 1.0) -> bool:
        """Waits for the lock (False if ``stopped`` is set first)."""
        waited = False
        while not self.try_acquire():
            if not waited:
                log.info("another projection runner is working: on standby")
                waited = True
            if stopped is not None and stopped.wait(interval):
                return False
            if stopped is None:
                time.sleep(interval)
        return True

    def release(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._file is not None:
            self._file.close()
            self._file = None


class EventDecoder:
    """The mapper's steps from stored event to domain event (decrypt, decode, upcast), except
    that the originator id stays text (in the UUID's canonical form, which the view keys
    journeys by): at millions of events the round trip through ``UUID`` shows."""

    def __init__(self, mapper) -> None:
        self.cipher, self.transcoder, self.compressor = mapper.cipher, mapper.transcoder, mapper.compressor
        self._classes: dict[str, type] = {}

    def __call__(self, row: StoredRow) -> Any:
        cls = self._classes.get(row.topic)
        if cls is None:
            cls = self._classes[row.topic] = resolve_topic(row.topic)
        state = row.state
        if self.cipher is not None:
            state = self.cipher.decrypt(state)
        if self.compressor is not None:
            state = self.compressor.decompress(state)
        fields = self.transcoder.decode(state)
        originator_id = row.originator_id
        if len(originator_id) == 32:  # SQLite stores the hex digits
            originator_id = (f"{originator_id[:8]}-{originator_id[8:12]}-{originator_id[12:16]}-"
                             f"{originator_id[16:20]}-{originator_id[20:]}")
        fields["originator_id"], fields["originator_version"] = originator_id, row.originator_version
        class_version, version = getattr(cls, "class_version", 1), fields.pop("class_version", 1)
        while version < class_version:
            getattr(cls, f"upcast_v{version}_v{version + 1}")(fields)
            version += 1
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", fields)
        return event


def apply_rows(view: CountsView, projection: JourneyCountsProjection, decode: EventDecoder, application: str,
               rows: list[StoredRow]) -> None:
    """One batch, one transaction with the tracking record of its last event."""
    with view.batch():
        for row in rows:
            if row.state is not None:
                projection.process_event(decode(row), Tracking(application, row.id))
        view.insert_tracking(Tracking(application, rows[-1].id))


class BatchingProjectionRunner:
    """Like eventsourcing's ``ProjectionRunner`` (same surface: ``view``, ``run_forever``,
    ``is_interrupted``, context manager), but applies each batch of available events in one
    transaction: one commit per batch instead of per event."""

    def __init__(self, settings: Settings, stopped: threading.Event | None = None) -> None:
        os.environ.setdefault(POLL_INTERVAL_ENV, str(settings.projection_poll_interval))
        self.halt_retry = settings.projection_halt_retry
        settings.projections_dir.mkdir(parents=True, exist_ok=True)
        self.lock = RunnerLock(settings)
        if not self.lock.acquire(stopped):
            raise InterruptedError("stopped while on standby")
        self.app = JourneyRegistry(env=runner_env(settings))
        self.view = open_view(settings)
        self.projection = JourneyCountsProjection(view=self.view)
        self.is_interrupted = threading.Event()
        self._error: BaseException | None = None
        self.subscription = PollingSubscription(cast(RowSource, self.app.recorder), gt=self.view.position())
        self._thread = threading.Thread(target=self._process, name="journey_counts", daemon=True)

    def __enter__(self) -> BatchingProjectionRunner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.subscription.stop()
        self._thread.join(timeout=30)
        self.app.close()
        self.view.datastore.close()  # its connections (a pool, on PostgreSQL)
        self.lock.release()

    def run_forever(self, timeout: float | None = None) -> None:
        """Waits until stopped by an error (re-raised here) or for ``timeout`` seconds."""
        if self.is_interrupted.wait(timeout) and self._error is not None:
            raise self._error

    def _apply(self, rows: list[StoredRow]) -> None:
        apply_rows(self.view, self.projection, self._decode, self.app.name, rows)

    def _process(self) -> None:
        try:
            # Events of other topics are neither fetched nor decrypted: they only advance the
            # position, which the batch's tracking record carries.
            self._decode = EventDecoder(self.app.mapper)
            if self.view.halt() is not None:
                log.warning("the projection was halted: trying again from its position", halt=self.view.halt())
            cleared = False
            while rows := self.subscription.next_rows(self.projection.topics, BATCH_SIZE):
                try:
                    self._apply(rows)
                except Exception:  # noqa: BLE001 - a failing batch is taken apart below
                    self._apply_one_by_one(rows)
                if not cleared:
                    self.view.clear_halt()  # whatever halted it before applies now
                    cleared = True
        except BaseException as error:  # noqa: BLE001 - handed to run_forever
            self._error = error
            self.is_interrupted.set()

    def _apply_one_by_one(self, rows: list[StoredRow]) -> None:
        """Applies a failed batch's events one at a time: those before the one that fails count;
        at that one the projection halts, with the reason recorded where ``lnere projections
        status``, the API's figures (marked stale) and ``/readyz`` show it. The worker, the API
        and Temporal go on. It tries the event again every ``projection_halt_retry`` seconds (a passing
        fault clears by itself); an event an operator skips (``lnere projections skip``) is
        passed over, recorded as skipped; a fixed runner, restarted, applies it."""
        for row in rows:
            logged = False
            while True:
                if any(skip["position"] == row.id for skip in self.view.skips()):
                    self.view.insert_tracking(Tracking(self.app.name, row.id))
                    self.view.clear_halt()
                    log.warning("event skipped by an operator", position=row.id, topic=row.topic)
                    break
                try:
                    self._apply([row])
                    if logged:
                        self.view.clear_halt()
                        log.warning("the projection goes on", position=row.id)
                    break
                except Exception as error:  # noqa: BLE001 - recorded as the halt's reason
                    reason = f"{type(error).__name__}: {error}"
                    if not logged:
                        log.error("the projection cannot apply an event: halted before it", position=row.id,
                                  topic=row.topic, originator_version=row.originator_version,
                                  error=type(error).__name__)
                        logged = True
                    self.view.record_halt(row.id, str(row.originator_id), row.originator_version, row.topic, reason)
                    if self.subscription.stopped.wait(self.halt_retry):
                        raise InterruptedError("stopped while halted") from None


def start_runner(settings: Settings, stopped: threading.Event | None = None) -> BatchingProjectionRunner:
    """Starts a runner once it holds the projection's lock (waiting on standby until then)."""
    return BatchingProjectionRunner(settings, stopped).__enter__()


def view_path(settings: Settings) -> Path:
    """The view's file. Its name carries the view's version (a digest of its definition): a new
    version starts a new file, which the runner fills from the start of the event log (an older
    file can be deleted)."""
    return settings.projection_db(f"{JourneyCountsProjection.name}.{JourneyCountsProjection.version}")


def create_tables(view: Any) -> None:
    """Creates the view's tables. Two processes starting at once on a fresh data dir (the
    runner and the API) both record eventsourcing's table migration: the second one's insert
    conflicts (or SQLite refuses its lock upgrade at once), and a second try finds the tables
    made."""
    for attempt in range(10):
        try:
            view.create_table()
            return
        except (IntegrityError, OperationalError, sqlite3.OperationalError):  # the last: setting WAL mode
            if attempt == 9:
                raise
            time.sleep(0.1 * (attempt + 1))


def open_view(settings: Settings) -> CountsView:
    """A reader of the projection's view (dashboards, reports, the milestone fan-out)."""
    if settings.persistence == "postgres":
        from eventsourcing.postgres import PostgresDatastore

        env = settings.postgres_env()
        datastore = PostgresDatastore(
            dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"], pool_size=8, max_overflow=8,
        )
        postgres_view = PostgresJourneyCountsView(datastore)
        create_tables(postgres_view)
        return postgres_view
    view = JourneyCountsView(SQLiteDatastore(str(view_path(settings)), lock_timeout=30))
    create_tables(view)
    return view


def wait_for_position(view: CountsView, position: int, timeout: float = 60.0, report=None) -> None:
    """Waits until the projection has processed the event at ``position``; ``report`` is
    called with (current position, position) while it waits."""
    deadline = time.monotonic() + timeout
    while (current := view.position()) < position:
        if report is not None:
            report(current, position)
        if time.monotonic() > deadline:
            raise TimeoutError(f"projection journey_counts is at {current} of {position} events after {timeout:.0f} s"
                               " (is the projection runner running? lnere up starts it)")
        time.sleep(0.05)


def event_log_head(settings: Settings) -> int:
    """The position of the last event recorded in the journey registry."""
    registry = JourneyRegistry(env=settings.event_store_env())
    try:
        return registry.head()
    finally:
        registry.close()


def wait_for_head(settings: Settings, view: CountsView, timeout: float = 600.0, report=None) -> int:
    """Waits until the projection has processed every event recorded so far; ``report`` is
    called with (position, head) while it waits."""
    head = event_log_head(settings)
    wait_for_position(view, head, timeout, report)
    return head


class RunnerHealth:
    """The runner's figures for ``/metrics`` and its readiness, refreshed by its main loop."""

    def __init__(self, max_lag: int) -> None:
        self.max_lag = max_lag
        self.reasons: list[str] = ["on standby: waiting for the projection's lock (another runner holds it)"]
        self.halted_at: int | None = None
        self.position = 0

    def refresh(self, runner: BatchingProjectionRunner) -> None:
        name = JourneyCountsProjection.name
        position = runner.view.position()
        head = runner.app.head()
        halt = runner.view.halt()
        metrics.PROJECTION_POSITION.labels(name).set(position)
        metrics.PROJECTION_LOG_HEAD.labels(name).set(head)
        metrics.PROJECTION_LAG.labels(name).set(max(head - position, 0))
        metrics.PROJECTION_HALTED.labels(name).set(1 if halt else 0)
        if position > self.position:
            metrics.PROJECTION_EVENTS.labels(name).inc(position - self.position)
        self.position = position
        if halt and halt["position"] != self.halted_at:
            metrics.PROJECTION_HALTS.labels(name).inc()
        self.halted_at = halt["position"] if halt else None
        reasons = []
        if halt:
            reasons.append(f"halted before event {halt['position']} ({halt['topic']}): {halt['error']}")
        if head - position > self.max_lag:
            reasons.append(f"behind the event log by {head - position:,} events (more than {self.max_lag:,})")
        self.reasons = reasons


def main() -> None:
    settings = Settings.for_service("projections")
    logs.configure(settings.log_level, component="projections")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    health = RunnerHealth(settings.ready_max_lag)
    server = (HealthServer("projections", settings.health_host, settings.projection_health_port,
                           lambda: health.reasons).start() if settings.projection_health_port else None)
    try:
        try:
            runner = start_runner(settings, stop)
        except InterruptedError:
            log.info("projection runner stopped on standby")
            return
        _run(runner, health, stop)
    finally:
        if server is not None:
            server.stop()


def _run(runner: BatchingProjectionRunner, health: RunnerHealth, stop: threading.Event) -> None:
    log.info("projection runner started", projection=JourneyCountsProjection.name, position=runner.view.position())
    last = -1
    try:
        while not stop.is_set():
            runner.run_forever(timeout=1.0)  # re-raises an error of the processing thread
            if runner.is_interrupted.is_set():
                break
            health.refresh(runner)
            if health.position != last:
                log.info("projection position", projection=JourneyCountsProjection.name, position=health.position)
                last = health.position
    finally:
        health.reasons = ["the projection runner is stopping"]
        position = runner.view.position()
        runner.__exit__(None, None, None)  # closes the view's connections
        log.info("projection runner stopped", position=position)


if __name__ == "__main__":
    main()

