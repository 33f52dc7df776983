"""The projection's catch-up path (events read as rows, only the topics it counts decoded,
each batch applied in memory and written once) builds the same view as eventsourcing's own
path, one event at a time through the mapper, and as the independent recount; and the event
store's codec reads what eventsourcing's own cipher and transcoder wrote, and the reverse."""

from __future__ import annotations

import base64
import math
import secrets
from datetime import UTC, datetime
from uuid import uuid4

from eventsourcing.persistence import JSONTranscoder, Tracking
from eventsourcing.sqlite import SQLiteDatastore

from lnere.application.gateway import load_processes
from lnere.domain.commands import RecordDelivery
from lnere.projections import runner as runner_module
from lnere.projections.journey_counts import JourneyCountsProjection, JourneyCountsView
from lnere.projections.runner import start_runner, wait_for_position
from lnere.simulation.event_log import record_scenario
from lnere.simulation.population import load_scenario
from lnere.store.event_codec import EventTranscoder
from lnere.store.registry import JourneyRegistry
from tests.recount import recount

PROCESS = "pel-2020-2021"


def record_log(registry: JourneyRegistry, settings) -> int:
    """A slice of the seed scenario with the calendar's milestones and deliveries: every kind
    of event the view counts."""
    processes = load_processes(settings)
    head = record_scenario(registry, load_scenario("seed-2020-11-30"), processes, settings.journey_key_bytes,
                           journeys=300, milestones=True)
    process = processes.get(PROCESS)
    delivered_on = process.milestone_at(max(process.milestones, key=lambda m: process.milestones[m]))
    journeys = {n.originator_id for n in registry.recorder.select_notifications(start=1, limit=head)
                if n.topic.endswith("Journey.IncludedInDefinitiveList")}
    for originator_id in sorted(journeys, key=str):
        journey = registry.repository.get(originator_id)
        for status in ("postal_sent", "internet_access_issued"):  # one of the two fits the modality
            registry.record_commands(process, journey.workflow_id, [
                RecordDelivery(at=delivered_on, status=status, reference=f"ref-{journey.workflow_id[-12:]}")])
    return registry.recorder.max_notification_id()


def view_rows(view) -> dict[str, list[tuple]]:
    with view._transaction(commit=False) as c:
        out = {}
        for table in ("journeys", "totals", "counts", "inbox_groups"):
            c.execute(f"SELECT * FROM {table}")
            # A key whose changes net to zero within one batch is not written; one written as a
            # zero in one transaction and undone in another stays as a row of zero.
            rows = [tuple(row.values() if isinstance(row, dict) else row) for row in c.fetchall()
                    if table == "journeys" or row["n"] != 0]
            out[table] = sorted(rows, key=repr)  # PostgreSQL and SQLite order text differently
        return out


def test_catch_up_in_batches_builds_the_view_that_event_by_event_builds(settings, tmp_path, monkeypatch):
    registry = JourneyRegistry(env=settings.event_store_env())
    try:
        head = record_log(registry, settings)
        topics = {n.topic.rsplit(".", 1)[-1] for n in registry.recorder.select_notifications(start=1, limit=head)}
        assert {"RequestFiled", "ReviewDecided", "SubsaneExpired", "ListedForReview", "IncludedInDefinitiveList",
                "ExcludedFromDefinitiveList", "DeliveryRecorded", "OutboundCallRecorded",
                "AutomatedNoticeSent", "CredentialActivated"} <= topics

        # eventsourcing's path: every event through the application's mapper, one transaction each.
        reference = JourneyCountsView(SQLiteDatastore(str(tmp_path / "reference.sqlite")))
        reference.create_table()
        projection = JourneyCountsProjection(view=reference)
        for notification in registry.recorder.select_notifications(start=1, limit=head):
            projection.process_event(registry.mapper.to_domain_event(notification),
                                     Tracking(registry.name, notification.id))
        assert reference.position() == head

        # Batches of 7: journeys whose events span batches are read back from the view.
        monkeypatch.setattr(runner_module, "BATCH_SIZE", 7)
        runner = start_runner(settings)
        try:
            wait_for_position(runner.view, head, timeout=120)
            assert runner.view.position() == head
            batched = view_rows(runner.view)
            assert batched == view_rows(reference)
            assert batched["journeys"] and batched["counts"]
            # The inbox's groups are the journeys in review, grouped: as the journeys say.
            from collections import Counter

            from lnere.projections.journey_counts.schema import JOURNEY_COLUMNS, inbox_group

            grouped = Counter(inbox_group(dict(zip(JOURNEY_COLUMNS, row, strict=True)))
                              for row in batched["journeys"])
            assert sorted((*k, n) for k, n in grouped.items() if k is not None) == sorted(batched["inbox_groups"])
            figures = runner.view.counts_as_of(PROCESS, None)
            assert figures == reference.counts_as_of(PROCESS, None)
            assert {k: v for k, v in figures.items() if k in recount(registry)} == recount(registry)
            assert sum(figures["delivery"].values()) == sum(figures["definitive"].values()) > 0
        finally:
            runner.__exit__(None, None, None)
    finally:
        registry.close()


def test_the_event_codec_reads_what_eventsourcing_wrote_and_the_reverse(settings):
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    theirs = {**settings.event_store_env(), "CIPHER_KEY": key,
              "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher", "TRANSCODER_TOPIC": ""}
    ours = {**settings.event_store_env(), "CIPHER_KEY": key}
    processes = load_processes(settings)
    process = processes.get(PROCESS)
    written = JourneyRegistry(env=theirs)
    try:
        record_scenario(written, load_scenario("seed-2020-11-30"), processes, settings.journey_key_bytes, journeys=5)
        stored_by_them = written.recorder.select_notifications(start=1, limit=10_000)
    finally:
        written.close()
    read = JourneyRegistry(env=ours)
    try:
        for notification in stored_by_them:
            event = read.mapper.to_domain_event(notification)
            assert event.__dict__ == written.mapper.to_domain_event(notification).__dict__
            # ...and what ours writes, theirs reads.
            again = read.mapper.to_stored_event(event)
            assert written.mapper.to_domain_event(again).__dict__ == event.__dict__
        journey = read.repository.get(stored_by_them[0].originator_id)
        assert journey.status().process_id == process.id
    finally:
        read.close()


def test_the_transcoder_revives_nested_values_and_falls_back_for_what_orjson_refuses():
    ours, theirs = EventTranscoder(), JSONTranscoder()
    for transcoder in (ours, theirs):
        JourneyRegistry.register_transcodings(JourneyRegistry, transcoder)
    when = datetime(2020, 11, 30, 23, 59, tzinfo=UTC)
    value = {"at": when, "ids": [uuid4(), {"nested": when}], "big": 2**70, "plain": {"_type_": 1}}
    data = theirs.encode(value)
    assert ours.decode(data) == theirs.decode(data) == value
    odd = theirs.encode({"x": float("nan"), "at": when})  # NaN is not JSON: orjson refuses it
    decoded = ours.decode(odd)
    assert math.isnan(decoded["x"]) and decoded["at"] == when


def _store_as_before_the_package(registry: JourneyRegistry) -> int:
    """Rewrites every stored event as lnere wrote it before it was one package: its topic and,
    in a journey's first event, the aggregate's topic (``domain.journey:…``, no ``lnere.``)."""
    from eventsourcing.postgres import PostgresAggregateRecorder

    head = registry.head()
    rows = []
    for notification in registry.recorder.select_notifications(start=1, limit=head):
        event = registry.mapper.to_domain_event(notification)
        if hasattr(event, "originator_topic"):
            object.__setattr__(event, "originator_topic", event.originator_topic.removeprefix("lnere."))
        stored = registry.mapper.to_stored_event(event)
        assert stored.topic.startswith("lnere.domain.")
        rows.append((stored.topic.removeprefix("lnere."), stored.state, notification.originator_id,
                     notification.originator_version))
    recorder = registry.recorder
    if isinstance(recorder, PostgresAggregateRecorder):
        table = f"{recorder.datastore.schema}.{recorder.events_table_name}"
        with recorder.datastore.transaction(commit=True) as c:
            c.executemany(f"UPDATE {table} SET topic = %s, state = %s WHERE originator_id = %s "
                          "AND originator_version = %s", rows)
    else:
        with recorder.datastore.transaction(commit=True) as c:
            c.executemany(f"UPDATE {recorder.events_table_name} SET topic = ?, state = ? WHERE originator_id = ? "
                          "AND originator_version = ?", [(t, s, i.hex, v) for t, s, i, v in rows])
    return len(rows)


def test_an_event_store_written_before_lnere_was_one_package_reads_as_before(settings):
    """Events stored as ``domain.journey:Journey.…`` (before the move to ``lnere.domain``): the
    journeys, their personal data, the lists' credentials and the figures all read as before."""
    registry = JourneyRegistry(env=settings.event_store_env())
    try:
        head = record_log(registry, settings)
        expected = recount(registry)
        journeys = sorted({registry.repository.get(n.originator_id).workflow_id
                           for n in registry.recorder.select_notifications(start=1, limit=head)
                           if n.topic.endswith("Journey.Started")})
        statuses = {w: registry.status(w) for w in journeys}
        credentials = registry.credentials_of(journeys)
        assert _store_as_before_the_package(registry) == head
    finally:
        registry.close()
    old = JourneyRegistry(env=settings.event_store_env())
    try:
        topics = {n.topic.split(":")[0] for n in old.recorder.select_notifications(start=1, limit=head)}
        assert topics and all(t.startswith("domain.") for t in topics), topics
        assert {w: old.status(w) for w in journeys} == statuses
        assert old.credentials_of(journeys) == credentials and any(credentials.values())
        runner = start_runner(settings)
        try:
            wait_for_position(runner.view, head, timeout=120)
            figures = runner.view.counts_as_of(PROCESS, None)
            assert {k: v for k, v in figures.items() if k in expected} == expected
        finally:
            runner.__exit__(None, None, None)
    finally:
        old.close()
