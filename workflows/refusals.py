"""A refusal across Temporal: a non-retryable ``ApplicationError`` of type ``DomainError``
whose first detail is the ``Refusal`` (field, rule, kind, message), raised by the activities
and the Update validators, and read back by the gateway. Nothing parses its message."""

from __future__ import annotations

from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from lnere.domain.refusals import Refusal, RefusalKind
from lnere.domain.rules import DomainError

REFUSAL_TYPE = "DomainError"


def refusal_failure(refusal: Refusal | DomainError) -> ApplicationError:
    if isinstance(refusal, DomainError):
        refusal = refusal.refusal
    return ApplicationError(refusal.message, refusal.model_dump(mode="json"), type=REFUSAL_TYPE, non_retryable=True)


def refusal_of(failure: BaseException | None) -> Refusal | None:
    """The refusal a failure carries, or None when it is not one."""
    if not isinstance(failure, ApplicationError) or failure.type != REFUSAL_TYPE or not failure.details:
        return None
    try:
        return Refusal.model_validate(failure.details[0])
    except ValidationError:
        return None


def refusal_of_update(failure: BaseException | None) -> Refusal:
    """Why an Update failed: its refusal, or — for a failure from before refusals were typed,
    or a validator's plain error — the message as an invalid command."""
    refusal = refusal_of(failure)
    if refusal is not None:
        return refusal
    message = failure.message if isinstance(failure, ApplicationError) else str(failure)
    return Refusal(field="command", rule="refused", kind=RefusalKind.INVALID, message=message)
