"""``python -m api``: the HTTP API and dashboard (``lnere up`` starts it beside the worker)."""

from __future__ import annotations

import uvicorn

from lnere import logs, tracing
from lnere.api.app import create_app
from lnere.application.staff import StaffDirectory
from lnere.settings import Settings


def main() -> None:
    settings = Settings.for_service("api")
    try:  # read once at start: a directory that is not one is named here, not in every request's 500
        StaffDirectory(settings.staff_path).check()
    except ValueError as error:
        raise SystemExit(f"lnere api: {error}") from None
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
