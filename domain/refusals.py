"""Refusals: why a command was not recorded, as a value every layer passes on unchanged.

A rule refuses with the field it blames, its own name and a kind; the workflow carries the
refusal in its failure's details, the API turns the kind into a status code and the CLI into
an exit code. Nobody parses the message, which is for people and holds no personal values.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class RefusalKind(StrEnum):
    INVALID = "invalid"  # a field of the command breaks a rule: fix the command
    CONFLICT = "conflict"  # the journey's or the process's state refuses it (stage, calendar, id in use)
    NOT_FOUND = "not_found"  # no such journey or process
    UNAVAILABLE = "unavailable"  # the engine did not answer: send it again (it counts once)


# Fields that name a state, not an input: a refusal on them is a conflict unless it says otherwise.
STATE_FIELDS = frozenset({"journey", "process", "command_id", "conflict"})


class Refusal(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str
    rule: str
    kind: RefusalKind
    message: str  # "field: what is wrong [rule]"

    def __str__(self) -> str:
        return self.message

    @classmethod
    def of(cls, field: str, rule: str, message: str, kind: RefusalKind | None = None) -> Refusal:
        if kind is None:
            kind = RefusalKind.CONFLICT if field in STATE_FIELDS else RefusalKind.INVALID
        return cls(field=field, rule=rule, kind=kind, message=f"{field}: {message} [{rule}]")


class Refused(Exception):
    """A command refused before or by the engine; ``refusal`` says why, typed."""

    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal
        super().__init__(refusal.message)
