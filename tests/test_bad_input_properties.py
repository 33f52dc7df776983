"""Bad input at scale (hypothesis): command lines mutated at random, through the import's
parser and then the journey registry on a real SQLite event store.

Properties: a line is either a command or refused with a message that names the field; a
command is either recorded or refused by a rule naming the field, and a refused command writes
nothing; no other exception, ever.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lnere.application.command_file import OUTREACH_KINDS, InvalidLine, parse_line
from lnere.domain.process import ProcessCatalog
from lnere.simulation.population import generate, load_scenario
from lnere.store.registry import JourneyRegistry

CATALOG = ProcessCatalog.load()
PROCESS = CATALOG.get("pel-2020-2021")
KEY = b"k" * 32
# Whole journeys of the seed scenario, one per shape (sequence of command kinds): a mutated
# command is applied after the valid commands that precede it, so the rules see it in context.
_BY_CITIZEN: dict[str, list[str]] = {}
for _line in generate(load_scenario("seed-2020-11-30"), PROCESS):
    if json.loads(_line)["command"]["kind"] not in OUTREACH_KINDS:  # outreach contacts: not journey commands
        _BY_CITIZEN.setdefault(json.loads(_line)["clave"], []).append(_line)
JOURNEYS = list({tuple(json.loads(t)["command"]["kind"] for t in lines): lines
                 for lines in _BY_CITIZEN.values()}.values())
MILESTONE = json.dumps({"process": PROCESS.id, "command": {"kind": "fire_milestone", "milestone": "analysis_deadline"}})
FIELD_MESSAGE = re.compile(r"^\S.*?: \S")
LINE_MESSAGE = re.compile(r"^(not valid JSON|a line is a JSON object)")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=6,
)
tricky_strings = st.sampled_from([
    "", " ", "2020-13-45T10:00:00-05:00", "2020-10-01T10:00:00", "2021-12-01T10:00:00-06:00",
    "1999-01-01T00:00:00+00:00", "XX", "MX", "ZZ", "99", "00", "GRLPAN85031209M700", "GRLPAN85023009M700",
    "A" * 5000, "INETEL", "SRVE", "CPV", "postal", "in_person", "meets_requirements", "rejected", "OTHER",
    "\u0000", "'; DROP TABLE stored_events; --", "01", "2020-08-31T23:59:00-05:00", "2021-03-21T10:00:00-06:00",
    "2002-12-01", "2030-01-01", "1900-01-01", "inconsistencies", "NOPE", "H", "M",
])

# Its subject is how malformed lines are refused, not storage: run once, on SQLite (tests/conftest.py).
pytestmark = pytest.mark.fast


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _at(data, path):
    for step in path:
        data = data[step]
    return data


@st.composite
def mutated_journeys(draw) -> tuple[list[str], str]:
    """(valid lines before, a mutated line)."""
    lines = draw(st.sampled_from(JOURNEYS)) + [MILESTONE]
    index = draw(st.integers(0, len(lines) - 1))
    data = json.loads(lines[index])
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        paths = [p for p in _paths(data) if p]
        leaves = [p for p in paths if not isinstance(_at(data, p), dict | list)]
        if draw(st.integers(0, 4)) and leaves:
            paths = leaves  # mostly one value changed: lines that parse, for the rules to judge
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["delete", "replace", "tricky", "tricky", "tricky", "extra"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "extra" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
        elif action == "tricky":
            parent[path[-1]] = draw(tricky_strings)
        else:
            parent[path[-1]] = draw(json_values)
    text = json.dumps(data)
    if draw(st.integers(0, 20)) == 0:
        text = text[: draw(st.integers(0, len(text)))]  # a torn line
    return lines[:index], text


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> JourneyRegistry:
    path = Path(tmp_path_factory.mktemp("events")) / "events.sqlite"
    app = JourneyRegistry(env={
        "PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path),
        "CIPHER_TOPIC": "lnere.store.event_codec:EventCipher",
        "TRANSCODER_TOPIC": "lnere.store.event_codec:EventTranscoder",
        "CIPHER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    })
    yield app
    app.close()


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                     HealthCheck.function_scoped_fixture])
@given(case=mutated_journeys())
def test_a_mutated_line_is_a_command_or_a_refusal_naming_the_field(registry, case):
    before_lines, text = case
    try:
        entry = parse_line(text, 1, CATALOG, KEY)
    except InvalidLine as error:
        message = str(error)
        assert FIELD_MESSAGE.match(message) or LINE_MESSAGE.match(message), message
        event("invalid line")
        return
    if entry.workflow_id is None:
        return  # a milestone: fired through the calendar, covered by the workflow tests
    # A fresh journey per example with the valid commands that came before.
    workflow_id = f"journey-{PROCESS.id}-{secrets.token_hex(16)}"
    earlier = [parse_line(line, 1, CATALOG, KEY).command for line in before_lines]
    if earlier:
        _, outcomes = registry.record_commands(PROCESS, workflow_id, earlier)
        assert all(o.accepted for o in outcomes)
    before = registry.head()
    status, [outcome] = registry.record_commands(PROCESS, workflow_id, [entry.command])
    after = registry.head()
    event("recorded" if outcome.accepted else f"refused [{outcome.rule}]")
    if outcome.accepted:
        assert status is not None and after > before
    else:
        assert after == before, "a refused command wrote events"
        assert (status is None) == (not earlier)
        assert FIELD_MESSAGE.match(outcome.error) and outcome.error.endswith(f"[{outcome.rule}]"), outcome.error

