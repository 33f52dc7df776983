"""structlog JSON logs. Log ids, stages and counts; never names, claves, addresses or contacts."""

from __future__ import annotations

import logging
import os
import sys

import structlog

_SENSITIVE_KEYS = frozenset({"clave", "credential", "holder", "address", "contact", "email", "phone", "name"})


def _drop_personal_data(_logger, _method, event_dict):
    for key in _SENSITIVE_KEYS & event_dict.keys():
        event_dict[key] = "[redacted]"
    return event_dict


def configure(level: str | None = None, stream=None) -> None:
    level = level or os.environ.get("LNERE_LOG_LEVEL", "INFO")
    logging.basicConfig(format="%(message)s", stream=stream or sys.stderr, level=level)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_personal_data,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str):
    return structlog.get_logger(name)
