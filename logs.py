"""structlog JSON logs, one line per record, every line with ``component``, ``level`` and
``timestamp``. Log ids, stages and counts; never names, claves, addresses or contacts.

Records of the standard library (Temporal's ``workflow.logger`` and ``activity.logger``, which
attach the workflow's or activity's ids as ``temporal_workflow``/``temporal_activity``;
uvicorn's) go through the same JSON renderer; their tracebacks are rendered as text, never as
an object's repr, and uvicorn's coloured copy of the message is dropped.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

import structlog

_SENSITIVE_KEYS = frozenset({"clave", "credential", "holder", "address", "contact", "email", "phone", "name"})
_DROPPED_KEYS = ("color_message",)  # uvicorn's message again, with ANSI escapes


def _drop_personal_data(_logger, _method, event_dict):
    for key in _SENSITIVE_KEYS & event_dict.keys():
        event_dict[key] = "[redacted]"
    for key in _DROPPED_KEYS:
        event_dict.pop(key, None)
    return event_dict


def _component(name: str):
    def add(_logger, _method, event_dict):
        event_dict.setdefault("component", name)
        return event_dict

    return add


def _log_uncaught(kind, value, traceback) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)
        return
    logging.getLogger("lnere").critical("uncaught exception", exc_info=(kind, value, traceback))


def configure(level: str | None = None, stream=None, component: str = "cli") -> None:
    """JSON logs on ``stream`` (stderr) at ``level`` (default ``$LNERE_LOG_LEVEL`` or INFO),
    each line naming ``component`` (worker, projections, api, up, cli, …)."""
    level = (level or os.environ.get("LNERE_LOG_LEVEL") or "INFO").upper()
    stream = stream or sys.stderr
    shared: list[structlog.typing.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _component(component),
        _drop_personal_data,
    ]
    render = structlog.processors.JSONRenderer(ensure_ascii=False, default=str)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info, render],
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # Python's warnings as log lines too, not bare text on stderr
    sys.excepthook = _log_uncaught  # a crash's traceback as one JSON line, like everything else
    threading.excepthook = lambda hook: _log_uncaught(hook.exc_type, hook.exc_value, hook.exc_traceback)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # into the root's JSON handler
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *shared,
            structlog.processors.format_exc_info,
            render,
        ],
        logger_factory=structlog.WriteLoggerFactory(file=stream),  # a line in one write: processes share stderr
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str):
    return structlog.get_logger(name)
