"""A kind of command is declared once (``domain.commands.JOURNEY_COMMANDS``) and reaches every
layer from there: its rule, the aggregate's method, the journey workflow's Update (with its
validator) and the activity of the same name. A kind missing from any of them fails here."""

from __future__ import annotations

import argparse
import inspect

import pytest
from temporalio import workflow

from lnere.activities.journeys import JourneyActivities
from lnere.domain import rules
from lnere.domain.commands import JOURNEY_COMMANDS, JourneyCommand, spec_of
from lnere.domain.journey import Journey
from lnere.workflows.journey import JourneyWorkflow

pytestmark = pytest.mark.fast


def test_every_kind_of_command_reaches_every_layer():
    definition = workflow._Definition.from_class(JourneyWorkflow)
    activities = {fn.__temporal_activity_definition.name for fn in JourneyActivities(None, None).all()}  # type: ignore[arg-type, attr-defined]
    for kind, spec in JOURNEY_COMMANDS.items():
        assert spec.model.model_fields["kind"].default == kind
        assert kind in rules.CHECKS, f"{kind}: no rule (decorate it with rules.rule_for)"
        assert callable(getattr(Journey, kind, None)), f"{kind}: no Journey method"
        update = definition.updates.get(kind)
        assert update is not None and update.validator is not None, f"{kind}: no Update with a validator"
        assert update.arg_types == [spec.model]
        assert kind in activities, f"{kind}: no activity"


def test_the_table_says_which_commands_start_a_journey_and_seal_personal_data():
    import random

    from pydantic import TypeAdapter

    from tests.citizens import at, credential, request

    commands = TypeAdapter(JourneyCommand)
    citizen = credential(random.Random(5))
    with_credential = commands.validate_python(request(citizen, when=at("2020-10-05 10:00")))
    without = commands.validate_python(request(None, when=at("2020-10-05 10:00")))
    recorded = commands.validate_python({"kind": "record_credential", "at": at("2020-09-20 10:00").isoformat(),
                                         "credential": citizen})
    decision = commands.validate_python({"kind": "decide_review", "at": at("2020-10-20 10:00").isoformat(),
                                         "reviewer": "r", "outcome": "meets_requirements"})
    specs = [spec_of(c) for c in (recorded, with_credential, without, decision)]
    assert [s is not None and s.starts(c) for s, c in zip(specs, (recorded, with_credential, without, decision),
                                                           strict=True)] == [True, True, False, False]
    assert [s is not None and s.seals for s in specs] == [True, True, True, False]


def test_every_kind_of_command_has_its_route_and_its_subcommand():
    from lnere.api.routes.journeys import command_route, router
    from lnere.cli.commands import CLI_NAMES
    from lnere.cli.main import build_parser
    from lnere.domain.roles import Role

    posts = {route.path: route for route in router.routes if "POST" in getattr(route, "methods", ())}
    def choices(parser) -> dict:
        found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return found[0].choices if found else {}

    subcommands = {(group, action): sub for group, parser in choices(build_parser()).items()
                   for action, sub in choices(parser).items()}
    for kind, spec in JOURNEY_COMMANDS.items():
        where = command_route(spec)
        if where is not None:
            route = posts[where[0]]
            assert set(route.openapi_extra["x-roles"]) == {r.value for r in (*spec.senders, Role.SUPERVISOR)}, kind
            body = inspect.signature(route.endpoint).parameters["body"].annotation
            assert not set(spec.acting) & set(body.model_fields), f"{kind}: who acts comes from the token"
        name = CLI_NAMES.get(kind, ("send", kind.replace("_", "-")))
        if name is not None:
            parser = subcommands[name]
            assert parser.get_default("kind") == kind
            options = {o for action in parser._actions for o in action.option_strings}
            assert {f"--{field}" for field in spec.acting} <= options, kind


def test_the_command_file_document_lists_the_declared_commands():
    from lnere.cli.command_docs import DOC, rewrite

    text = DOC.read_text(encoding="utf-8")
    assert rewrite(text) == text, "docs/command-file.md differs from the declarations: python -m lnere.cli.command_docs"
    for kind in JOURNEY_COMMANDS:
        assert f"| `{kind}` |" in text


def test_a_field_added_later_leaves_the_ids_of_commands_that_do_not_use_it_as_they_were():
    import hashlib
    import random

    from pydantic import TypeAdapter

    from tests.citizens import at, credential, request

    filed = TypeAdapter(JourneyCommand).validate_python(
        request(credential(random.Random(9)), when=at("2020-10-05 10:00")))
    # As recorded before voting sites and documents existed.
    as_recorded_before = filed.model_dump_json(exclude={"command_id", "recorded_by", "voting_site", "documents"})
    assert filed.effective_id() == f"file_request:{hashlib.sha256(as_recorded_before.encode()).hexdigest()[:32]}"
    in_person = filed.model_copy(update={"voting_site": "SITE_CHICAGO"})
    assert in_person.effective_id() != filed.effective_id()
    with_documents = filed.model_copy(update={"documents": ()})
    assert with_documents.effective_id() != filed.effective_id()


def test_every_cli_option_and_argument_says_what_it_takes():
    import argparse

    from lnere.cli.main import build_parser

    def undocumented(parser: argparse.ArgumentParser, path: str):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from undocumented(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                yield f"{path} {'/'.join(action.option_strings) or action.dest}"

    assert list(undocumented(build_parser(), "lnere")) == []
    assert "--version" in build_parser().format_help()
