"""The CLI's subcommands for the commands users send to journeys, derived from their
declaration (``domain.commands.JOURNEY_COMMANDS``): one subcommand per kind, one option per
field of its model. A kind named in ``CLI_NAMES`` gets INE's words (``lnere review decide``); any
other is ``lnere send <kind>``. A command whose model holds a structure (a credential, an
address) is read from a JSON file; any other from its options."""

from __future__ import annotations

import argparse
import types
from collections.abc import Callable
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from lnere.domain.commands import JOURNEY_COMMANDS, CommandSpec

# (group, action) of a kind; None: no subcommand of its own (a batch command sends it).
CLI_NAMES: dict[str, tuple[str, str] | None] = {
    "record_credential": ("credential", "record"),
    "activate_credential": ("credential", "activate"),
    "file_request": ("request", "file"),
    "decide_review": ("review", "decide"),
    "send_subsane_documents": ("subsane", "send"),
    "reopen_rejection": ("rejection", "reopen"),
    "file_observation": ("observation", "file"),
    "resolve_observation": ("observation", "resolve"),
    "record_delivery": ("delivery", "record"),
    "erase_personal_data": ("journey", "erase"),
    "record_registral_check": None,  # lnere registral-check, from a CSV
}
GROUP_HELP = {
    "credential": "credentials", "request": "SIILNERE", "review": "review decisions", "subsane": "subsane",
    "rejection": "rejections", "observation": "parties' observations on the list for review",
    "delivery": "deliveries after the definitive list", "journey": "read a journey, or erase its personal data",
    "send": "any other command to a journey",
}
FILLED = {"kind", "recorded_by"}  # the kind is the subcommand's; recorded_by is who acts


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> X."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_structure(annotation: Any) -> bool:
    annotation = _unwrap(annotation)
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def reads_a_file(spec: CommandSpec) -> bool:
    """Whether the command is given as a JSON file (its model holds a structure)."""
    return any(_is_structure(info.annotation) for info in spec.model.model_fields.values())


def _option(parser: argparse.ArgumentParser, name: str, info: FieldInfo, business_time: Callable[[str], str]) -> None:
    annotation = _unwrap(info.annotation)
    origin = get_origin(annotation)
    help_ = info.description or ""
    if "of the process" in help_:
        help_ += " (lnere codes lists them)"
    required = info.is_required()
    if name == "at":
        parser.add_argument("--at", required=True, type=business_time,
                            help="business time it happened: ISO 8601 with its UTC offset, "
                                 "e.g. 2020-10-01T10:00:00-06:00")
        return
    if origin is dict:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, action="append", required=required,
                            metavar="KEY=VALUE", type=_pair, help=f"{help_} (repeatable)".strip())
        return
    if origin in (tuple, list):
        singular = name[:-1] if name.endswith("s") else name
        parser.add_argument(f"--{singular.replace('_', '-')}", dest=name, action="append", required=required,
                            metavar=singular.upper(), help=f"{help_} (repeatable)".strip())
        return
    choices = None
    if origin is Literal:
        choices = [str(a) for a in get_args(annotation)]
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        choices = [str(member.value) for member in annotation]
    if annotation is bool:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, action=argparse.BooleanOptionalAction,
                            required=required, help=help_)
        return
    parser.add_argument(f"--{name.replace('_', '-')}", dest=name, required=required, choices=choices, help=help_)


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("write KEY=VALUE")
    return key, value


def add_command_parsers(
    sub: Any, groups: dict[str, Any], handler: Callable[[argparse.Namespace], None],
    journey_ref: Callable[[argparse.ArgumentParser], None], business_time: Callable[[str], str],
) -> None:
    """A subcommand per kind of journey command; ``groups`` holds the group parsers (shared with
    the hand-written subcommands of the same group)."""
    for kind, spec in JOURNEY_COMMANDS.items():
        name = CLI_NAMES.get(kind, ("send", kind.replace("_", "-")))
        if name is None:
            continue
        group, action = name
        if group not in groups:
            groups[group] = sub.add_parser(group, help=GROUP_HELP.get(group)).add_subparsers(dest="action",
                                                                                               required=True)
        doc = (spec.model.__doc__ or kind).strip().split("\n\n")[0].replace("\n    ", " ")
        parser = groups[group].add_parser(action, help=doc, description=doc)
        journey_ref(parser)
        if reads_a_file(spec):
            parser.add_argument("file", help="the command as a JSON object (- for stdin)")
        else:
            for field, info in spec.model.model_fields.items():
                if field not in FILLED and field not in spec.acting and field not in ("command_id", spec.documents):
                    _option(parser, field, info, business_time)
        if spec.documents is not None:
            parser.add_argument("--attach", action="append", metavar="KIND=PATH",
                                help="a document of the expediente: its kind (lnere codes lists them) and its "
                                     "file, checked and stored with the command (repeatable)")
        for field in spec.acting:
            parser.add_argument(f"--{field}", dest=field,
                                help="who acts (their staff id or code); default: --staff, or $LNERE_STAFF")
        if not spec.acting:
            parser.add_argument("--staff", dest="recorded_by",
                                help="who acts (staff id), recorded with the command; default: $LNERE_STAFF")
        parser.add_argument("--command-id", dest="command_id",
                            help="an id of your own for the command: the same id sent again counts once")
        parser.set_defaults(handler=handler, kind=kind)


def command_body(args: argparse.Namespace, spec: CommandSpec, from_file: dict[str, Any] | None,
                 identity: str | None = None) -> dict[str, Any]:
    """The command's fields from the options (or the file), who acts and its kind; ``identity``:
    who acts when no option says (``--staff`` before the subcommand, or ``LNERE_STAFF``)."""
    body: dict[str, Any] = dict(from_file or {})
    if from_file is None:
        for field in spec.model.model_fields:
            value = getattr(args, field, None)
            if field not in FILLED and value is not None:
                body[field] = dict(value) if get_origin(_unwrap(spec.model.model_fields[field].annotation)) is dict \
                    else value
    for field in spec.acting:
        value = getattr(args, field, None) or (identity if field == spec.acting[-1] else None)
        if value is None:
            raise ValueError(f"{field}: give --{field} (who acts)"
                             + (", --staff or LNERE_STAFF" if field == spec.acting[-1] else ""))
        body[field] = value
    who = body[spec.acting[-1]] if spec.acting else (getattr(args, "recorded_by", None) or identity)
    if who is not None:
        body.setdefault("recorded_by", who)
    if getattr(args, "command_id", None):
        body["command_id"] = args.command_id
    body["kind"] = spec.kind
    return body
