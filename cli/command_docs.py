"""The command file's table of journey commands (docs/command-file.md), written from the
commands' declarations: ``python -m lnere.cli.command_docs`` rewrites it, and a test fails while the
document differs from the declarations."""

from __future__ import annotations

import re
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from lnere.api.routes.journeys import command_route
from lnere.cli.commands import CLI_NAMES, FILLED, _unwrap
from lnere.domain.commands import JOURNEY_COMMANDS

DOC = Path(__file__).resolve().parent.parent / "docs" / "command-file.md"
BEGIN, END = "<!-- journey commands: begin (python -m lnere.cli.command_docs) -->", "<!-- journey commands: end -->"
SPECIAL_ROUTES = {"record_credential": "POST /api/v1/processes/{p}/credentials",
                  "file_request": "POST /api/v1/processes/{p}/requests",
                  "file_observation": "POST /api/v1/journeys/{j}/observations",
                  "resolve_observation": "POST /api/v1/journeys/{j}/observations/{id}/resolution"}
SPECIAL_CLI = {"record_registral_check": "lnere registral-check"}  # a CSV of clave,result,source


def _type(annotation: Any, depth: int = 0) -> str:
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return "/".join(f"`{a}`" for a in get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "/".join(f"`{m.value}`" for m in annotation)
    if origin in (tuple, list):
        return "list"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and depth < 2:
        return "{" + ", ".join(_field(n, i, depth + 1) for n, i in annotation.model_fields.items()) + "}"
    return ""


def _field(name: str, info: Any, depth: int = 0) -> str:
    kind = _type(info.annotation, depth)
    return f"`{name}`{'' if info.is_required() else '?'}" + (f" {kind}" if kind else "")


def command_table() -> str:
    rows = ["| `kind` | what it records | fields besides `at` | sent by | CLI | HTTP |", "|---|---|---|---|---|---|"]
    for kind, spec in JOURNEY_COMMANDS.items():
        fields = ", ".join(_field(n, i) for n, i in spec.model.model_fields.items()
                           if n not in FILLED and n not in ("at", "command_id")) or "—"
        what = " ".join((spec.model.__doc__ or "").split())
        cli = CLI_NAMES.get(kind, ("send", kind.replace("_", "-")))
        route = command_route(spec)
        http = ("POST " + route[0].replace("{journey}", "{j}").replace("{process}", "{p}") if route
                else SPECIAL_ROUTES.get(kind, ""))
        senders = ", ".join(role.value for role in spec.senders)
        command = f"lnere {cli[0]} {cli[1]}" if cli else SPECIAL_CLI.get(kind, "")
        rows.append(f"| `{kind}` | {what} | {fields} | {senders} | {f'`{command}`' if command else '—'} "
                    f"| {f'`{http}`' if http else '—'} |")
    return "\n".join(rows)


def rewrite(text: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    return pattern.sub(lambda _: f"{BEGIN}\n{command_table()}\n{END}", text)


if __name__ == "__main__":
    DOC.write_text(rewrite(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    sys.stdout.write(f"{DOC}: the journey commands' table rewritten\n")
