"""The command file: JSON Lines, one command per line, each with its business time.

Documented in docs/command-file.md. A line is either a command to a journey (the citizen's
``clave`` or the ``journey`` id, and the ``command``), or a milestone of the process calendar
(``{"process": ..., "command": {"kind": "fire_milestone", ...}}``), or an outreach contact with
a citizen (an outbound call or an automated notice, addressed like a journey command).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lnere.domain.commands import Command, CommandEnvelope, FireMilestone, OutreachEnvelope
from lnere.domain.identity import journey_workflow_id, process_of
from lnere.domain.process import ProcessCatalog


class MilestoneLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    process: str = Field(min_length=1, max_length=60)
    command: FireMilestone


OUTREACH_KINDS = frozenset({"record_outbound_call", "send_automated_notice", "record_attention"})


# A command is a few levels deep: deeper lines are refused before they are parsed.
MAX_DEPTH = 32
MAX_NESTING_MARKS = 64


def _depth(text: str) -> int:
    """The deepest nesting of brackets outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


class InvalidLine(ValueError):
    """A line that is not a command: bad JSON, a bad field, an unknown process."""


@dataclass(frozen=True)
class Entry:
    """One valid line, ready to send."""

    line: int
    at: datetime
    process: str
    workflow_id: str | None  # None for a milestone, or an attention that names no citizen
    command: Command | FireMilestone
    outreach: bool = False  # an outreach contact (call, notice): recorded apart from the journey


def _path_part(part: object) -> str:
    text = str(part)
    # A field name that is not a plain identifier (an unknown key of any shape) is quoted.
    return text if re.fullmatch(r"[A-Za-z0-9_][\w-]*", text) else json.dumps(text)


# pydantic's words before a validator's own message: the message is ours, in lnere's voice.
_LIBRARY_PREFIXES = ("Value error, ", "Assertion failed, ")
# A mistake every entry point words the same (the CLI's --at checks say it too).
NEEDS_OFFSET = "needs its UTC offset, e.g. 2020-10-01T10:00:00-06:00"
_OUR_WORDS = {"timezone_aware": NEEDS_OFFSET}


def format_validation(error: ValidationError) -> str:
    """Field paths and messages, in one voice from the CLI, the import and the API's
    rejects: no library prefix, no union tag in the path (``command.at``, not
    ``command.record_credential.at``); never the values (nor an unknown key's name: either
    may be personal data)."""
    from lnere.domain.commands import JOURNEY_COMMANDS

    tags = set(JOURNEY_COMMANDS) | OUTREACH_KINDS | {"apply_milestone", "fire_milestone"}
    parts = []
    for item in error.errors():
        loc = [part for i, part in enumerate(item["loc"]) if not (i > 0 and part in tags)]
        if item["type"] == "extra_forbidden" and loc:
            loc[-1] = "(unknown field)"
        path = ".".join(_path_part(p) for p in loc) or "input"
        message = _OUR_WORDS.get(item["type"], item["msg"])
        for prefix in _LIBRARY_PREFIXES:
            message = message.removeprefix(prefix)
        parts.append(f"{path}: {message}")
    return "; ".join(parts)


def parse_line(text: str, line: int, processes: ProcessCatalog, journey_key: bytes) -> Entry:
    """One line as an entry, or ``InvalidLine`` saying why: never another exception, whatever
    the line holds (nesting thousands deep, integers of thousands of digits, odd numbers)."""
    try:
        return _parse_line(text, line, processes, journey_key)
    except InvalidLine:
        raise
    except RecursionError:
        raise InvalidLine("the line is nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as error:
        raise InvalidLine(f"the line cannot be read as a command ({type(error).__name__})") from None


def _parse_line(text: str, line: int, processes: ProcessCatalog, journey_key: bytes) -> Entry:
    if text.count("[") + text.count("{") > MAX_NESTING_MARKS and _depth(text) > MAX_DEPTH:
        raise InvalidLine(f"the line is nested deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidLine(f"not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(data, dict):
        raise InvalidLine("a line is a JSON object")
    kind = (data.get("command") or {}).get("kind") if isinstance(data.get("command"), dict) else None
    try:
        if kind == "fire_milestone":
            milestone = MilestoneLine.model_validate(data)
            process = processes.get(milestone.process)
            at = milestone.command.at or process.milestone_at(milestone.command.milestone)
            return Entry(line, at, process.id, None, milestone.command)
        outreach = isinstance(kind, str) and kind in OUTREACH_KINDS
        envelope = (OutreachEnvelope if outreach else CommandEnvelope).model_validate(data)
    except ValidationError as error:
        raise InvalidLine(format_validation(error)) from None
    except KeyError as error:
        raise InvalidLine(f"process: {error.args[0]}") from None
    try:
        processes.get(envelope.process)
    except KeyError as error:
        raise InvalidLine(f"process: {error.args[0]}") from None
    workflow_id: str | None = None  # an attention may name no citizen
    if envelope.journey is not None:
        if process_of(envelope.journey) != envelope.process:
            raise InvalidLine(f"journey: {envelope.journey} is not a journey of {envelope.process}")
        workflow_id = envelope.journey
    elif envelope.clave is not None:
        workflow_id = journey_workflow_id(journey_key, envelope.process, envelope.clave)
    return Entry(line, envelope.command.at, envelope.process, workflow_id, envelope.command, outreach)


def journey_line(process: str, clave: str | None, command: BaseModel) -> str:
    """A command line, as the simulator and other tools write it (an attention may name no citizen)."""
    return json.dumps(
        {"process": process, **({"clave": clave} if clave is not None else {}),
         "command": command.model_dump(mode="json", exclude_none=True)},
        ensure_ascii=False,
        separators=(",", ":"),
    )

