"""structlog JSON logs. Log ids, stages and counts; never names, claves, addresses or contacts.

Records of the standard library (Temporal's ``workflow.logger`` and ``activity.logger``, which
attach the workflow's or activity's ids as ``temporal_workflow``/``temporal_activity``) go
through the same JSON renderer.
"""

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


_SHARED: list[structlog.typing.Processor] = [
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _drop_personal_data,
]


def configure(level: str | None = None, stream=None) -> None:
    level = (level or os.environ.get("LNERE_LOG_LEVEL", "INFO")).upper()
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *_SHARED],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *_SHARED,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str):
    return structlog.get_logger(name)
