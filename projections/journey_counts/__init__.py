"""The journey counts projection: the figures of report section 4.1, as of any business day,
and each journey's current stage.

Counts are kept as per-day deltas: a request adds +1 to each of its dimensions on the day it
was filed, and a change of analysis status or stage moves one unit from the old key to the new
one on the day it happened. A report as of day D sums the deltas up to D, so its cost grows
with days × keys, not with journeys; the same changes also go to running totals, so the live
figures (as of now) read one row per key. Each journey's row carries what the review inbox
filters and sorts on (no personal data). A batch of events is applied in memory (each journey
row read once, each count key's net change summed) and written in one transaction with the
tracking record of its last event (``batch``; a single event is a batch of one), so a
restarted runner never counts an event twice, and a rebuild writes each key once per batch.

The package: ``schema`` (tables, age ranges), ``writes`` (batches, halts), ``queries`` (reads),
``views`` (SQLite and PostgreSQL), ``projection`` (events to figures).
"""

from lnere.projections.journey_counts.projection import JourneyCountsProjection
from lnere.projections.journey_counts.schema import AGE_RANGES, INBOX_FILTERS, JOURNEY_COLUMNS, age_range, view_tables
from lnere.projections.journey_counts.views import CountsView, JourneyCountsView, PostgresJourneyCountsView

__all__ = ["AGE_RANGES", "INBOX_FILTERS", "JOURNEY_COLUMNS", "CountsView", "JourneyCountsProjection",
           "JourneyCountsView", "PostgresJourneyCountsView", "age_range", "view_tables"]
