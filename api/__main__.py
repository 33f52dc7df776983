"""``python -m api``: the HTTP API and dashboard (``lnere up`` starts it beside the worker)."""

from __future__ import annotations

import uvicorn

from lnere import logs, tracing
from lnere.api.app import create_app
from lnere.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    logs.configure(settings.log_level, component="api")
    if settings.tracing:
        tracing.configure("api")
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,  # our JSON logs
        access_log=False,  # paths and queries are logged by nobody: they could be mistyped personal data
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
