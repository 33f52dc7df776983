"""Records a scenario straight through the domain (no Temporal), for measuring and testing
projections over a realistic event log: its journeys (each journey's commands in one
transaction, as the import's activity records them) and its outreach contacts (in batches, as
the outreach workflow records them). Milestone lines are left out: their fan-out is the
calendar workflow's work."""

from __future__ import annotations

import json

from lnere.domain.commands import ApplyMilestone
from lnere.domain.process import MILESTONE_ORDER, ProcessCatalog
from lnere.simulation.population import Scenario, generate
from lnere.store.registry import JourneyRegistry

OUTREACH_BATCH = 200


def slice_lines(lines: list[str], journeys: int, outreach_share: float = 1.0) -> list[str]:
    """A scenario's command lines of its first ``journeys`` citizens with a journey, whole, and
    as large a share of its outreach contacts (those citizens' first), times ``outreach_share``.
    A call that registered a citizen names that citizen's request: only those of citizens kept."""
    from lnere.application.command_file import OUTREACH_KINDS

    parsed = [(line, json.loads(line)) for line in lines]
    citizens = dict.fromkeys(data["clave"] for _, data in parsed if data["command"]["kind"] not in OUTREACH_KINDS)
    kept = set(list(citizens)[:journeys])
    share = min(1.0, journeys / len(citizens)) * outreach_share
    outreach = [(line, data.get("clave")) for line, data in parsed if data["command"]["kind"] in OUTREACH_KINDS
                and (data.get("clave") in kept or not data["command"].get("request_command_id"))]
    outreach.sort(key=lambda contact: contact[1] not in kept)  # stable: time order kept
    chosen = {line for line, _ in outreach[:round(len(outreach) * share)]}
    return [line for line, data in parsed
            if line in chosen or (data["command"]["kind"] not in OUTREACH_KINDS and data["clave"] in kept)]


def record_scenario(registry: JourneyRegistry, scenario: Scenario, processes: ProcessCatalog, journey_key: bytes,
                    journeys: int | None = None, milestones: bool = False) -> int:
    """Records the scenario (with ``journeys``, only its ``slice_lines``), then, with
    ``milestones``, every milestone of the calendar to every journey in the calendar's order
    (as the calendar's fan-out does: lists, exclusions, closures); returns the event log's head."""
    from lnere.application.command_file import parse_line

    process = processes.get(scenario.process)
    lines = generate(scenario, process)
    if journeys is not None:
        lines = slice_lines(lines, journeys)
    commands_of: dict[str, list] = {}
    outreach: list[tuple[str | None, object]] = []
    for number, line in enumerate(lines, start=1):
        entry = parse_line(line, number, processes, journey_key)
        if entry.outreach:
            outreach.append((entry.workflow_id, entry.command))
        elif entry.workflow_id is None:  # a milestone: applied below, with milestones
            continue
        else:
            commands_of.setdefault(entry.workflow_id, []).append(entry.command)
    for workflow_id, commands in commands_of.items():
        registry.record_commands(process, workflow_id, commands)
    for i in range(0, len(outreach), OUTREACH_BATCH):
        registry.record_outreach(process, outreach[i:i + OUTREACH_BATCH])
    if milestones:
        for milestone in MILESTONE_ORDER:
            command = ApplyMilestone(at=process.milestone_at(milestone), milestone=milestone)
            for workflow_id in commands_of:
                registry.record_commands(process, workflow_id, [command])
    return registry.head()


def replica(scenario: Scenario, number: int) -> Scenario:
    """The scenario with other citizens: the same shape, drawn with another random seed."""
    return scenario.model_copy(update={"random_seed": scenario.random_seed + 1000 * number})
