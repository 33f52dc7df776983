"""A polling subscription for eventsourcing's SQLite recorder, which has no ``subscribe()``,
and for its PostgreSQL recorder, so that a lost notification never stalls a projection.

``PollingSQLiteApplicationRecorder`` is selected with the environment variable
``APPLICATION_RECORDER_TOPIC`` so that eventsourcing's own ``ProjectionRunner`` can follow an
SQLite event store exactly as it follows PostgreSQL with LISTEN/NOTIFY.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Sequence

from eventsourcing.persistence import Notification, Subscription
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

POLL_INTERVAL_ENV = "LNERE_PROJECTION_POLL_INTERVAL"


class PollingSubscription(Subscription["PollingSQLiteApplicationRecorder"]):
    """Yields notifications after ``gt`` in order; when none are left it sleeps for the poll
    interval and asks again, until stopped."""

    def __init__(
        self,
        recorder: PollingSQLiteApplicationRecorder,
        gt: int | None = None,
        topics: Sequence[str] = (),
        poll_interval: float = 0.2,
        batch_size: int = 1000,
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._buffer: deque[Notification] = deque()
        self._stopped = threading.Event()

    def stop(self) -> None:
        super().stop()
        self._stopped.set()

    def next_batch(self) -> list[Notification]:
        """Every notification available now (at least one; waits for it), or [] once stopped:
        lets a runner apply a batch in one transaction."""
        while not self._buffer:
            if self._stopped.is_set():
                return []
            start = (self._last_notification_id or 0) + 1
            self._buffer.extend(
                self._recorder.select_notifications(start=start, limit=self._batch_size, topics=self._topics)
            )
            if not self._buffer:
                self._stopped.wait(self._poll_interval)
        batch = list(self._buffer)
        self._buffer.clear()
        self._last_notification_id = batch[-1].id
        return batch

    def __next__(self) -> Notification:
        while not self._buffer:
            if self._stopped.is_set():
                raise StopIteration
            start = (self._last_notification_id or 0) + 1
            self._buffer.extend(
                self._recorder.select_notifications(start=start, limit=self._batch_size, topics=self._topics)
            )
            if not self._buffer:
                self._stopped.wait(self._poll_interval)
        if self._stopped.is_set():
            raise StopIteration
        notification = self._buffer.popleft()
        self._last_notification_id = notification.id
        return notification


class PollingSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription:
        interval = float(os.environ.get(POLL_INTERVAL_ENV, "0.2"))
        return PollingSubscription(self, gt=gt, topics=topics, poll_interval=interval)


class PollingPostgresApplicationRecorder(PostgresApplicationRecorder):
    """PostgreSQL has LISTEN/NOTIFY, but a notification lost (a dropped connection, a restarted
    server) must not stall a projection: polling never depends on one. Inserts lock the table,
    so ids commit in order and reading after the last id misses nothing."""

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription:
        interval = float(os.environ.get(POLL_INTERVAL_ENV, "0.2"))
        return PollingSubscription(self, gt=gt, topics=topics, poll_interval=interval)


RECORDER_TOPIC = f"{__name__}:PollingSQLiteApplicationRecorder"
POSTGRES_RECORDER_TOPIC = f"{__name__}:PollingPostgresApplicationRecorder"
