"""Event topics across the move to one package: events stored before it name their classes
``domain.journey:Journey.Started``, later ones ``lnere.domain.journey:Journey.Started``. Both
resolve to the same class, and a reader that selects events by topic asks for both."""

from __future__ import annotations

from eventsourcing.utils import get_topic, register_topic

from lnere import domain

LEGACY_PACKAGE = "domain"  # what the domain package was called when it was top level
register_topic(LEGACY_PACKAGE, domain)


def topics_of(cls: type) -> tuple[str, ...]:
    """The names a class's events are stored under: today's, and the one before the package."""
    topic = get_topic(cls)
    legacy = topic.removeprefix("lnere.")
    return (topic, legacy) if legacy.startswith(f"{LEGACY_PACKAGE}.") and legacy != topic else (topic,)
