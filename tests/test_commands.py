"""A kind of command is declared once (``domain.commands.JOURNEY_COMMANDS``) and reaches every
layer from there: its rule, the aggregate's method, the journey workflow's Update (with its
validator) and the activity of the same name. A kind missing from any of them fails here."""

from __future__ import annotations

from temporalio import workflow

from activities.journeys import JourneyActivities
from domain import rules
from domain.commands import JOURNEY_COMMANDS, JourneyCommand, starts_journey
from domain.journey import Journey
from workflows.journey import JourneyWorkflow


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

    from domain.commands import seals_personal_data
    from tests.citizens import at, credential, request

    commands = TypeAdapter(JourneyCommand)
    citizen = credential(random.Random(5))
    with_credential = commands.validate_python(request(citizen, when=at("2020-10-05 10:00")))
    without = commands.validate_python(request(None, when=at("2020-10-05 10:00")))
    recorded = commands.validate_python({"kind": "record_credential", "at": at("2020-09-20 10:00").isoformat(),
                                         "credential": citizen})
    decision = commands.validate_python({"kind": "decide_review", "at": at("2020-10-20 10:00").isoformat(),
                                         "reviewer": "r", "outcome": "meets_requirements"})
    assert [starts_journey(c) for c in (recorded, with_credential, without, decision)] == [True, True, False, False]
    assert [seals_personal_data(c) for c in (recorded, with_credential, decision)] == [True, True, False]
