"""lnere: the registration of citizens who vote from abroad (INE's LNERE), from the command line.

Exit codes (README, "Exit codes"): 0 done; 1 failed; 2 usage; 3 refused; 4 not found;
5 unavailable; 6 partial import; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import Counter
from contextlib import contextmanager
from datetime import date, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lnere.domain.commands import CommandEnvelope, FireMilestone
from lnere.domain.identity import journey_workflow_id
from lnere.domain.lists import ListKind
from lnere.domain.process import Milestone
from lnere.domain.refusals import RefusalKind, Refused
from lnere.domain.roles import Role
from lnere.settings import Settings, keep_files_private


class ExitCode(IntEnum):
    """What ``lnere`` exits with (README, "Exit codes")."""

    OK = 0
    FAILED = 1  # an unexpected failure (its traceback is printed), or a check that found differences
    USAGE = 2  # bad arguments, a missing or unreadable file, input that is not a valid command
    REFUSED = 3  # a rule refused the command (its field and rule are printed)
    NOT_FOUND = 4  # no such journey or process
    UNAVAILABLE = 5  # Temporal did not answer (a command sent again counts once)
    PARTIAL = 6  # an import took some lines and refused others (listed in its rejects file)
    INTERRUPTED = 130  # Ctrl-C


EXIT_BY_KIND = {RefusalKind.INVALID: ExitCode.REFUSED, RefusalKind.CONFLICT: ExitCode.REFUSED,
                RefusalKind.NOT_FOUND: ExitCode.NOT_FOUND, RefusalKind.UNAVAILABLE: ExitCode.UNAVAILABLE}


class UsageError(Exception):
    """Bad input: exit code 2."""


class NotFound(Exception):
    """No such journey or process: exit code 4."""


def _format_validation(error: ValidationError) -> str:
    from lnere.application.command_file import format_validation

    return format_validation(error)


def _read_json(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}: not valid JSON ({error})") from None


def _print(value: Any) -> None:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _settings(args: argparse.Namespace) -> Settings:
    """The settings of this command: its flags over the environment, the config file and the
    defaults; a stack that ``lnere up`` runs on the data dir gives Temporal's address unless
    one was configured."""
    from lnere.runtime.stack import read_stack_file

    try:
        settings = Settings.from_env(data_dir=getattr(args, "data_dir", None),
                                     temporal_address=getattr(args, "address", None))
    except (ValidationError, ValueError) as error:
        raise UsageError(f"settings: {_format_validation(error) if isinstance(error, ValidationError) else error}"
                         ) from None
    if "temporal_address" not in settings.model_fields_set:
        served = read_stack_file(settings.data_dir)
        if served is not None:
            settings = settings.model_copy(update={"temporal_address": served["temporal_address"],
                                                   "temporal_namespace": served.get("temporal_namespace",
                                                                                    settings.temporal_namespace)})
    return settings


def _existing_settings(args: argparse.Namespace) -> Settings:
    """The settings of a command that reads: its data dir must hold lnere's data. A mistyped
    --data-dir is named, never created and reported as all zeros."""
    settings = _settings(args)
    data_dir = settings.data_dir
    if not data_dir.is_dir():
        raise UsageError(f"data dir {data_dir} does not exist: give --data-dir (or LNERE_DATA_DIR) of a stack "
                         f"that has run (lnere up)")
    if settings.persistence == "sqlite" and not settings.events_db.exists():
        raise UsageError(f"data dir {data_dir} holds no lnere event store ({settings.events_db.name}): "
                         f"give --data-dir (or LNERE_DATA_DIR) of a stack that has run (lnere up)")
    return settings


def _journey_ref(journey: str, process: str) -> str:
    """A journey named by its ``workflow_id`` or by its ``journey_id`` (the same hash as a UUID,
    within ``process``): both are printed, both are taken."""
    from uuid import UUID

    try:
        return f"journey-{process}-{UUID(journey).hex}"
    except ValueError:
        return journey


def _envelope(args: argparse.Namespace, command: dict[str, Any], clave: str | None = None) -> CommandEnvelope:
    data = {"process": args.process, "command": command}
    journey = getattr(args, "journey", None)
    journey = _journey_ref(journey, args.process) if journey else None
    clave = clave or getattr(args, "clave", None)
    if journey:
        data["journey"] = journey
    elif clave:
        data["clave"] = clave
    try:
        return CommandEnvelope.model_validate(data)
    except ValidationError as error:
        raise UsageError(_format_validation(error)) from None


@contextmanager
def _registry(settings: Settings):
    from lnere.store.registry import JourneyRegistry

    registry = JourneyRegistry(env=settings.event_store_env())
    try:
        yield registry
    finally:
        registry.close()


@contextmanager
def _documents(settings: Settings):
    from lnere.store.documents import open_documents

    documents = open_documents(settings)
    try:
        yield documents
    finally:
        documents.close()


async def _journey_client(settings: Settings, registry=None, documents=None):
    from lnere.application.gateway import JourneyClient, connect, load_processes

    try:
        client = await connect(settings)
    except Exception as error:  # noqa: BLE001 - any connection failure is reported the same way
        raise ConnectionError(f"cannot reach Temporal at {settings.temporal_address}: {error}") from None
    return JourneyClient(client, load_processes(settings), settings.journey_key_bytes, settings.task_queue, registry,
                         documents)


async def _send(args: argparse.Namespace, envelope: CommandEnvelope) -> None:
    settings = _existing_settings(args)  # a command from another data dir would carry keys nobody has
    # The journey is checked against the event store first: a refused or repeated command
    # never wakes its workflow.
    with _registry(settings) as registry, _documents(settings) as documents:
        journeys = await _journey_client(settings, registry, documents)
        _print(await journeys.send(envelope))


# -- command handlers ------------------------------------------------------------------------


def cmd_send(args: argparse.Namespace) -> None:
    """Any command of ``domain.commands.JOURNEY_COMMANDS`` (its subcommand is derived: cli/commands.py)."""
    from lnere.cli.commands import command_body, reads_a_file
    from lnere.domain.commands import JOURNEY_COMMANDS

    spec = JOURNEY_COMMANDS[args.kind]
    from_file = None
    if reads_a_file(spec):
        from_file = _read_json(args.file)
        if not isinstance(from_file, dict):
            raise UsageError(f"{args.file}: a command is a JSON object")
    try:
        body = command_body(args, spec, from_file, identity=args.identity or _settings(args).staff)
    except ValueError as error:
        raise UsageError(str(error)) from None
    credential = body.get("credential")
    clave = args.clave or (credential.get("clave") if isinstance(credential, dict) else None)
    if not clave and not args.journey:
        raise UsageError("clave: give --clave, --journey" + (", or the credential in the file" if from_file else ""))
    body = _with_documents(args, body, clave)
    envelope = _envelope(args, body, clave=clave)
    asyncio.run(_erase(args, envelope) if spec.erases else _send(args, envelope))


def _with_documents(args: argparse.Namespace, body: dict[str, Any], clave: str | None) -> dict[str, Any]:
    """The command with its documents named by file — ``--attach KIND=PATH``, or entries
    ``{"kind", "file"}`` in its JSON file (relative to it) — stored and named by reference."""
    from lnere.application.documents import DocumentFileError, attach_file, attach_files, names_files
    from lnere.application.gateway import load_processes
    from lnere.domain.commands import JOURNEY_COMMANDS

    field = JOURNEY_COMMANDS[args.kind].documents
    given = [item.partition("=") for item in getattr(args, "attach", None) or []]
    in_file = names_files({"command": body})
    if not given and not in_file:
        return body
    if field is None or any(not sep for _, sep, _ in given):
        raise UsageError("--attach: write KIND=PATH, for a command that carries documents")
    settings = _existing_settings(args)
    processes = load_processes(settings)
    address = {"clave": clave} if clave else {"journey": args.journey}
    base = Path(args.file).resolve().parent if getattr(args, "file", None) not in (None, "-") else Path.cwd()
    with _documents(settings) as documents:
        try:
            if in_file:
                body = attach_files(documents, processes, settings.journey_key_bytes,
                                    {"process": args.process, **address, "command": body}, base,
                                    body.get("recorded_by"))["command"]
            if given:
                workflow_id = (journey_workflow_id(settings.journey_key_bytes, args.process, clave) if clave
                               else _workflow_id(args, settings))
                process = _process(args, settings)
                refs = [attach_file(documents, process, workflow_id, kind, Path(path), body.get("recorded_by"))
                        for kind, _, path in given]
                body = {**body, field: [*(body.get(field) or []), *(ref.model_dump() for ref in refs)]}
        except DocumentFileError as error:
            raise UsageError(f"documents: {error}") from None
    return body


def cmd_document_add(args: argparse.Namespace) -> None:
    """Stores one document of a citizen's expediente and prints its reference."""
    from lnere.application.documents import DocumentFileError, attach_file

    settings = _existing_settings(args)
    workflow_id = _workflow_id(args, settings)
    with _documents(settings) as documents:
        try:
            ref = attach_file(documents, _process(args, settings), workflow_id, args.kind, Path(args.file),
                              args.identity or settings.staff)
        except DocumentFileError as error:
            raise UsageError(f"documents: {error}") from None
    _print(ref)


def cmd_milestone_fire(args: argparse.Namespace) -> None:
    try:
        command = FireMilestone.model_validate({"milestone": args.milestone, "at": args.at,
                                                "recorded_by": args.identity or _settings(args).staff})
    except ValidationError as error:
        raise UsageError(_format_validation(error)) from None

    async def fire() -> None:
        journeys = await _journey_client(_settings(args))
        _print(await journeys.fire_milestone(args.process, command))

    asyncio.run(fire())


def _workflow_id(args: argparse.Namespace, settings: Settings) -> str:
    """The journey a read names: its id (``journey_id`` as the commands print it), or the
    clave. A malformed clave, an unknown process or an id that is not a journey's is said so,
    not answered "no such journey"."""
    from lnere.application.gateway import load_processes
    from lnere.domain.identity import WORKFLOW_ID
    from lnere.domain.values import ClaveElector

    if args.journey:
        journey = _journey_ref(args.journey, args.process)
        if not WORKFLOW_ID.match(journey):
            raise UsageError("journey: not a journey id (its workflow_id journey-<process>-<32 hex digits>, or its "
                             "journey_id, as commands print them)")
        return journey
    if not args.clave:
        raise UsageError("journey: give --journey or --clave")
    try:
        ClaveElector.parse(args.clave)
    except ValueError as error:
        raise UsageError(f"clave: {error}") from None
    if args.process not in {p.id for p in load_processes(settings)}:
        raise NotFound(f"process: no process {args.process!r}")
    return journey_workflow_id(settings.journey_key_bytes, args.process, args.clave)


def cmd_journey_status(args: argparse.Namespace) -> None:
    from lnere.store.registry import JourneyRegistry

    settings = _existing_settings(args)
    registry = JourneyRegistry(env=settings.event_store_env())
    status = registry.status(_workflow_id(args, settings))
    if status is None:
        raise NotFound("journey: no such journey")
    _print(status)


def cmd_journey_history(args: argparse.Namespace) -> None:
    from lnere.store.registry import JourneyRegistry, event_rows

    settings = _existing_settings(args)
    registry = JourneyRegistry(env=settings.event_store_env())
    workflow_id = _workflow_id(args, settings)
    events = registry.history(workflow_id)
    if not events:
        raise NotFound("journey: no such journey")
    rows = event_rows(events)
    _print({"journey": workflow_id, "personal_data": registry.personal_data(workflow_id), "events": rows})


async def _erase(args: argparse.Namespace, envelope: CommandEnvelope) -> None:
    """An erasure is sent like any other command (the journey's Update, its rule, its activity,
    which deletes the citizen's key once the erasure is recorded); then Temporal's history of
    the journey (its commands, encrypted under the installation's payload key) is deleted too,
    every run of it, the erasure's own."""
    settings = _existing_settings(args)
    with _registry(settings) as registry:
        journeys = await _journey_client(settings, registry)
        status = await journeys.send(envelope)
    workflow_id = status.workflow_id
    deleted = await _delete_runs(journeys.client, settings, workflow_id)
    _print({"journey": workflow_id, "stage": status.stage, "personal_data": "erased",
            "temporal_history": f"{deleted} run(s) deleted" if deleted else "none"})


async def _delete_runs(client, settings: Settings, workflow_id: str) -> int:
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
    from temporalio.service import RPCError, RPCStatusCode

    async def delete(run_id: str) -> bool:
        try:
            await client.workflow_service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
                namespace=settings.temporal_namespace,
                workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id)))
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            return False
        return True

    deleted: set[str] = set()
    runs = [run.run_id async for run in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    # The latest run (the erasure's) may not be listed yet: it is asked for by id.
    latest = (await client.get_workflow_handle(workflow_id).describe()).run_id
    for run_id in dict.fromkeys([*runs, latest]):
        if await delete(run_id):
            deleted.add(run_id)
    return len(deleted)


def cmd_report(args: argparse.Namespace) -> None:
    from lnere.projections.report import build_report, render_report
    from lnere.projections.runner import open_view

    settings = _existing_settings(args)
    process = _process(args, settings)
    try:
        as_of = date.fromisoformat(args.as_of) if args.as_of else date.today()
    except ValueError:
        raise UsageError(f"as-of: {args.as_of!r} is not a date YYYY-MM-DD") from None
    if args.state is not None and process.state(args.state) is None:
        raise NotFound(f"state: {process.id} has no state {args.state!r}")
    report = build_report(open_view(settings), process, as_of, args.state)
    sys.stdout.flush()
    sys.stdout.buffer.write(render_report(report, args.format))


def _process(args: argparse.Namespace, settings: Settings):
    """The process the command names (--process), or exit 4 naming it."""
    from lnere.application.gateway import load_processes

    try:
        return load_processes(settings).get(args.process)
    except KeyError as error:
        raise NotFound(f"process: {error.args[0]}") from None


def _process_and_stores(args: argparse.Namespace):
    from lnere.projections.runner import open_view
    from lnere.store.registry import JourneyRegistry

    settings = _existing_settings(args)
    return _process(args, settings), open_view(settings), JourneyRegistry(env=settings.event_store_env())


def cmd_list_show(args: argparse.Namespace) -> None:
    process, _, registry = _process_and_stores(args)
    cuts = [registry.list_cut(process.id, kind) for kind in ListKind]
    _print([cut.summary() for cut in cuts if cut is not None])


def cmd_list_export(args: argparse.Namespace) -> None:
    from lnere.projections import lists

    process, view, registry = _process_and_stores(args)
    cut = registry.list_cut(process.id, args.kind)
    if cut is None:
        raise UsageError(f"list: the {args.kind} list has not been cut yet (its milestone cuts it)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for part in cut.parts:
        if args.state and part["state"] != args.state:
            continue
        content, citizens = lists.export(view, registry, process, args.kind, cut.position, part["state"],
                                         part["modality"])
        name = f"lnere-{args.kind}-{process.id}-{part['state']}" + (f"-{part['modality']}" if part["modality"] else "")
        path = out / f"{name}.csv"
        path.write_bytes(content)
        sha = lists.digest(content)
        written.append({"file": str(path), "state": part["state"], "modality": part["modality"],
                        "citizens": citizens, "sha256": sha, "same_as_cut": sha == part["sha256"]})
    _print({"list": args.kind, "position": cut.position, "files": written})
    if not all(w["same_as_cut"] for w in written):
        print("lnere: some exports differ from the list as cut (personal data changed or erased since)",
              file=sys.stderr)
        raise SystemExit(1)


def cmd_list_departures(args: argparse.Namespace) -> None:
    from lnere.projections import lists

    process, view, registry = _process_and_stores(args)
    review, definitive = (registry.list_cut(process.id, k) for k in ListKind)
    if review is None or definitive is None:
        raise UsageError("list: both lists must be cut (list_for_review_issued and definitive_list)")
    left = lists.departures(view, process, review.position, definitive.position)
    _print({"review_position": review.position, "definitive_position": definitive.position,
            "left": len(left), "by_reason": dict(Counter(d["reason"] for d in left).most_common()),
            "departures": left})


def cmd_registral_check(args: argparse.Namespace) -> None:
    """Turns a CSV of registry changes (clave,result[,source]) into a command file and imports it."""
    import csv as csv_module

    from lnere.application.command_file import journey_line
    from lnere.domain.commands import RecordRegistralCheck

    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{args.file}: no such file")
    lines = []
    with path.open(encoding="utf-8", newline="") as f:
        for number, row in enumerate(csv_module.DictReader(f), start=2):
            try:
                command = RecordRegistralCheck(at=args.at, result=(row.get("result") or "").strip(),
                                               source=(row.get("source") or args.source).strip())
            except ValidationError as error:
                raise UsageError(f"{args.file}:{number}: {_format_validation(error)}") from None
            lines.append(journey_line(args.process, (row.get("clave") or "").strip(), command))
    commands = path.with_name(path.name + ".commands.jsonl")
    commands.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args.file, args.rejects = str(commands), str(path.with_name(path.name + ".rejects.jsonl"))
    # Unknown citizens are refused line by line ([journey-exists]) and listed in the rejects file.
    cmd_import(args)


def cmd_import(args: argparse.Namespace) -> None:
    from lnere.application.importer import run_import

    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{args.file}: no such file")
    settings = _settings(args)
    rejects = Path(args.rejects) if args.rejects else path.with_name(path.name + ".rejects.jsonl")

    async def go():
        # Lines are checked against the event store first: a journey whose lines are all
        # refused (or already imported) gets no workflow run.
        with _registry(settings) as registry, _documents(settings) as documents:
            journeys = await _journey_client(settings, registry, documents)
            return await run_import(path, journeys, settings.data_dir / "imports", rejects,
                                    concurrency=args.concurrency, restart=args.restart)

    try:
        summary = asyncio.run(go())
    except KeyboardInterrupt:
        print("\nlnere: import interrupted; run the same command again to continue where it stopped",
              file=sys.stderr)
        raise SystemExit(ExitCode.INTERRUPTED) from None
    _print(summary.as_dict())
    _issue_replayed_reports(settings, summary.processes)
    if summary.refused:
        print(f"lnere: {summary.refused:,} line(s) refused, listed in {summary.rejects_file}", file=sys.stderr)
        raise SystemExit(ExitCode.PARTIAL)


def _issue_replayed_reports(settings: Settings, process_ids: list[str]) -> None:
    """A replayed process's progress reports are due once its business days pass their dates:
    after an import, its report schedule is triggered (the reports are issued in the background;
    ``lnere reports list`` shows them)."""
    from lnere.application import reports
    from lnere.application.gateway import load_processes

    catalog = load_processes(settings)
    replayed = [process for process in catalog if process.id in process_ids
                and process.milestone_mode != "live" and process.report_schedule is not None]
    if not replayed:
        return

    async def trigger() -> None:
        journeys = await _journey_client(settings)
        for process in replayed:
            await reports.ensure_report_schedule(journeys.client, process, settings.task_queue)
            await reports.act_on_schedule(journeys.client, process, "trigger")

    asyncio.run(trigger())
    print(f"lnere: the progress reports due of {', '.join(p.id for p in replayed)} are being issued "
          "(lnere reports list)", file=sys.stderr)


def cmd_simulate(args: argparse.Namespace) -> None:
    """Generates a scenario's population and imports it into a process instance of its own (a
    copy of the scenario's process under a new id, kept in the data dir), so nothing else in
    the data dir counts in the comparison with the scenario's published figures."""
    from lnere.application.gateway import KEPT_PROCESSES, load_processes
    from lnere.application.importer import run_import
    from lnere.projections.report import build_report
    from lnere.projections.runner import open_view, wait_for_head
    from lnere.simulation.compare import render_comparison
    from lnere.simulation.population import generate, load_scenario, load_targets

    try:
        scenario = load_scenario(args.scenario)
    except KeyError as error:
        raise UsageError(f"scenario: {error.args[0]}") from None
    settings = _settings(args)
    base = load_processes(settings).get(scenario.process)
    instance = f"{base.id}-sim-{datetime.now().strftime('%Y%m%d%H%M%S')}"
    process = base.model_copy(update={"id": instance, "name": f"{base.name} (simulación {scenario.name})"})
    out = Path(args.out) if args.out else settings.data_dir / "simulations" / f"{instance}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = generate(scenario, process)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"lnere: wrote {len(lines):,} commands of process instance {instance} to {out}", file=sys.stderr)
    if args.no_import:
        # Its process file beside it: put it in LNERE_PROCESSES_DIR (or DATA_DIR/processes) to import it.
        beside = out.with_name(f"{instance}.process.json")
        beside.write_text(process.model_dump_json(indent=2), encoding="utf-8")
        print(f"lnere: its process file is {beside}", file=sys.stderr)
        return
    _existing_settings(args)  # the import goes to a stack that has run on this data dir
    kept = settings.data_dir / KEPT_PROCESSES
    kept.mkdir(parents=True, exist_ok=True)
    (kept / f"{instance}.json").write_text(process.model_dump_json(indent=2), encoding="utf-8")

    async def go():
        with _registry(settings) as registry:
            journeys = await _journey_client(settings, registry)
            return await run_import(out, journeys, settings.data_dir / "imports",
                                    out.with_name(out.name + ".rejects.jsonl"), concurrency=args.concurrency)

    summary = asyncio.run(go())
    print(f"lnere: imported {summary.accepted:,} of {summary.lines:,} lines into {summary.journeys:,} journeys "
          f"in {summary.wall_seconds:.1f} s; {summary.refused:,} refused", file=sys.stderr)
    view = open_view(settings)

    def waiting(position: int, head: int) -> None:
        print(f"lnere: projections at event {position:,} of {head:,}", file=sys.stderr)

    wait_for_head(settings, view, timeout=args.timeout, report=_every(5.0, waiting))
    ours = build_report(view, process, scenario.as_of)
    text, differences = render_comparison(load_targets(scenario), ours)
    sys.stdout.write(f"Process instance {instance} (its own: nothing else in the data dir counts)\n\n{text}")
    if summary.refused or differences:
        raise SystemExit(1)


def _every(seconds: float, call):
    import time

    last = [0.0]

    def throttled(*a):
        if time.monotonic() - last[0] >= seconds:
            last[0] = time.monotonic()
            call(*a)

    return throttled


def cmd_up(args: argparse.Namespace) -> None:
    from lnere import logs
    from lnere.runtime.stack import read_stack_file, run_stack

    settings = _settings(args)
    logs.configure(settings.log_level, component="up")
    running = read_stack_file(settings.data_dir)
    if running is not None:
        raise UsageError(f"a stack already runs on data dir {settings.data_dir} (pid {running['pid']}, Temporal "
                         f"{running['temporal_address']}): stop it first, or give another --data-dir")
    try:
        code = run_stack(settings, port=args.port, ui_port=args.ui_port or settings.temporal_ui_port,
                         api_port=args.api_port)
    except ValueError as error:  # a process file or the staff directory that is not one: named
        raise UsageError(str(error)) from None
    raise SystemExit(code)


def cmd_api(args: argparse.Namespace) -> None:
    from lnere.api.__main__ import main as serve

    serve()


def _staff_directory(args: argparse.Namespace):
    from lnere.application.staff import StaffDirectory

    return StaffDirectory(_settings(args).staff_path)


def cmd_staff_add(args: argparse.Namespace) -> None:

    try:
        token = _staff_directory(args).add(args.staff, Role(args.role), args.party, args.state)
    except ValidationError as error:
        raise UsageError(_format_validation(error)) from None
    # The token is shown once; only its SHA-256 is stored.
    _print({"staff": args.staff, "role": args.role, **({"party": args.party} if args.party else {}),
            **({"state": args.state} if args.state else {}), "token": token})


def cmd_staff_list(args: argparse.Namespace) -> None:
    _print([{"staff": e.id, "role": e.role.value, **({"party": e.party} if e.party else {}),
             **({"state": e.state} if e.state else {})} for e in _staff_directory(args).entries()])


def cmd_staff_revoke(args: argparse.Namespace) -> None:
    if not _staff_directory(args).revoke(args.staff):
        raise UsageError(f"staff: no staff member {args.staff!r}")
    _print({"staff": args.staff, "revoked": True})


def cmd_worker(args: argparse.Namespace) -> None:
    from lnere import worker

    worker.main()


def cmd_projections(args: argparse.Namespace) -> None:
    from lnere.projections import runner

    if args.action == "run":
        runner.main()
        return
    settings = _existing_settings(args)
    view = runner.open_view(settings)
    if args.action == "skip":
        if args.position is None or not args.reason or not args.staff:
            raise UsageError("projections skip needs --position, --reason and --staff")
        halt = view.halt()
        if halt is None or halt["position"] != args.position:
            raise UsageError(f"the projection is not halted at position {args.position}: nothing to skip")
        view.skip(args.position, args.reason, args.staff)
    from lnere.store.registry import JourneyRegistry

    registry = JourneyRegistry(env=settings.event_store_env())
    try:
        head = registry.head()
    finally:
        registry.close()
    _print({"position": view.position(), "log_head": head, "halt": view.halt(), "skipped_events": view.skips()})


def _scheduled_process(args: argparse.Namespace):
    settings = _existing_settings(args)
    process = _process(args, settings)
    if process.report_schedule is None:
        raise NotFound(f"report schedule: {process.id} has none (report_schedule in its process file)")
    return settings, process


def _issued(settings: Settings, process, number: int):
    times = process.report_issue_times()
    if not 1 <= number <= len(times):
        raise NotFound(f"report: {process.id} has issues 1 to {len(times)} in its schedule")
    with _registry(settings) as registry:
        report = registry.issued_report(process.id, times[number - 1])
    if report is None:
        raise NotFound(f"report: issue {number} has not been issued yet")
    return report


def cmd_reports(args: argparse.Namespace) -> None:
    """The progress reports: list, get, verify, derive, issue, and the schedule."""
    import hashlib

    from lnere.application import reports
    from lnere.projections.issued import digests, figures_at, render

    settings, process = _scheduled_process(args)
    if args.state is not None and process.state(args.state) is None:
        raise NotFound(f"state: {process.id} has no state {args.state!r}")
    if args.action == "list":
        with _registry(settings) as registry:
            _print([r.summary(args.state) for r in registry.issued_reports(process)])
    elif args.action == "get":
        report = _issued(settings, process, _number(args))
        content = render(report.figures_for(args.state), args.format)
        if hashlib.sha256(content).hexdigest() != report.sha256_for(args.state)[args.format]:
            print("lnere: this rendering differs from the one issued", file=sys.stderr)
            raise SystemExit(ExitCode.FAILED)
        if args.out:
            Path(args.out).write_bytes(content)
            _print({"file": args.out, "sha256": report.sha256_for(args.state)[args.format]})
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(content)
    elif args.action == "verify":
        report = _issued(settings, process, _number(args))
        again = figures_at(settings, process, report.position, date.fromisoformat(report.as_of), args.state)
        made = digests(again)
        same = made == report.sha256_for(args.state)
        _print({"number": report.number, "position": report.position, **({"state": args.state} if args.state else {}),
                "issued": report.sha256_for(args.state), "made_again": made, "same": same})
        if not same:
            raise SystemExit(ExitCode.FAILED)
    elif args.action == "derive":
        if args.position is None:
            raise UsageError("derive: give --position (and --as-of)")
        try:
            as_of = date.fromisoformat(args.as_of) if args.as_of else None
        except ValueError:
            raise UsageError(f"as-of: {args.as_of!r} is not a date YYYY-MM-DD") from None
        try:
            figures = figures_at(settings, process, args.position, as_of, args.state)
        except ValueError as error:
            raise UsageError(f"position: {error} [position-future]") from None
        sys.stdout.flush()
        sys.stdout.buffer.write(render(figures, args.format))
    else:
        async def act() -> Any:
            journeys = await _journey_client(settings)
            client = journeys.client
            if args.action == "issue":
                return (await reports.issue_due_reports(client, process, settings.task_queue)).model_dump()
            await reports.ensure_report_schedule(client, process, settings.task_queue)
            if args.action != "schedule":
                await reports.act_on_schedule(client, process, args.action,
                                              note=f"{args.action} by {args.identity or settings.staff or 'cli'}")
            return await reports.schedule_state(client, process)

        _print(asyncio.run(act()))


def _number(args: argparse.Namespace) -> int:
    if args.number is None:
        raise UsageError(f"{args.action}: give the issue's number (lnere reports list)")
    return args.number


def cmd_codes(args: argparse.Namespace) -> None:
    """The codes a process takes, with INE's words: reasons, attention topics, offices, sites."""
    process = _process(args, _settings(args))
    _print({
        "process": process.id,
        "inconsistency_reasons (review decide --reason, inconsistencies)": process.inconsistency_reasons,
        "rejection_reasons (review decide --reason, rejected)": process.rejection_reasons,
        "exclusion_reasons (registral-check result, observations)": process.exclusion_reasons,
        "attention_topics (by service)": {service.value: topics
                                          for service, topics in process.attention_topics.items()},
        "consular_offices (request_cpve office)": {code: office.name
                                                     for code, office in process.consular_offices.items()},
        "voting_sites (file_request voting_site)": {code: site.name for code, site in process.voting_sites.items()},
        "modalities": {m.value: process.modality_labels.get(m, m.value) for m in process.modalities},
        "documents (document add --kind, --attach KIND=PATH)": {code: kind.label
                                                                 for code, kind in process.documents.items()},
    })


def process_schema() -> dict:
    """The JSON Schema of a process file, from the model lnere validates it with."""
    from lnere.domain.process import ElectoralProcess

    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "lnere process file",
            **ElectoralProcess.model_json_schema()}


def cmd_process(args: argparse.Namespace) -> None:
    """``check FILE``: a process file read as lnere loads it (exit 2 naming each field and the
    reason); ``schema``: the JSON Schema of process files."""
    from lnere.domain.process import load_process_file

    if args.action == "schema":
        print(json.dumps(process_schema(), indent=2, ensure_ascii=False))
        return
    try:
        process = load_process_file(Path(args.file))
    except ValueError as error:
        raise UsageError(str(error)) from None
    _print({"file": str(args.file), "valid": True, "id": process.id, "name": process.name,
            "timezone": process.timezone, "milestones": {m: process.milestone_at(m).isoformat()
                                                         for m in process.milestones},
            "states": len(process.states), "channels": [c.value for c in process.channels],
            "documents": sorted(process.documents)})


def cmd_status(args: argparse.Namespace) -> None:
    """How the stack on this data dir is: each component's readiness (with its reasons), the
    projection's position and lag. Exit 0 when every component is ready, 5 when one is not."""
    import urllib.error
    import urllib.request

    from lnere.runtime.stack import read_stack_file

    settings = _existing_settings(args)
    served = read_stack_file(settings.data_dir)
    if served is None:
        raise ConnectionError(f"no stack runs on data dir {settings.data_dir} (lnere up starts one)")
    components: dict[str, Any] = {}
    for name, url in served.get("health", {}).items():
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as answer:
                body = json.loads(answer.read())
        except urllib.error.HTTPError as error:
            body = json.loads(error.read() or b"{}")
        except (OSError, ValueError) as error:
            body = {"ready": False, "reasons": [f"does not answer at {url} ({error})"]}
        components[name] = {"url": url, "ready": bool(body.get("ready")), "reasons": body.get("reasons", []),
                            **({"lag_events": body["lag_events"]} if "lag_events" in body else {})}
    ready = all(c["ready"] for c in components.values())
    _print({"ready": ready, "data_dir": str(settings.data_dir), "pid": served["pid"],
            "temporal_address": served["temporal_address"], "dashboard": f"{served['api']}/",
            "components": components})
    if not ready:
        raise SystemExit(ExitCode.UNAVAILABLE)


# -- parser ---------------------------------------------------------------------------------


def _business_time(value: str) -> str:
    from lnere.application.command_file import NEEDS_OFFSET

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 date-time (YYYY-MM-DDTHH:MM:SS±HH:MM)"
                                         ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} {NEEDS_OFFSET}")
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lnere")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    from lnere.cli.commands import add_command_parsers

    parser = argparse.ArgumentParser(prog="lnere", description=__doc__.splitlines()[0],
                                     epilog="Settings: flags, then LNERE_* variables, then lnere.toml "
                                            "(docs/settings.md). Exit codes: README, 'Exit codes'.")
    parser.add_argument("--version", action="version", version=f"lnere {_version()}")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="data directory (default: $LNERE_DATA_DIR, data_dir in lnere.toml, or ./data)")
    parser.add_argument("--address", metavar="HOST:PORT",
                        help="Temporal's address (default: $LNERE_TEMPORAL_ADDRESS, else the address of the stack "
                             "lnere up runs on the data dir, else 127.0.0.1:7233)")
    parser.add_argument("--process", metavar="ID",
                        help="electoral process id, e.g. pel-2020-2021 (default: $LNERE_PROCESS or pel-2020-2021)")
    parser.add_argument("--staff", dest="identity", metavar="STAFF_ID",
                        help="who acts for the commands this sends (recorded with them; default: $LNERE_STAFF)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="start the stack: Temporal, the worker, the projection runner and the API")
    up.add_argument("--port", type=int, default=7233, metavar="PORT",
                    help="Temporal's frontend port (default 7233); later commands on the data dir find it")
    up.add_argument("--ui-port", type=int, metavar="PORT",
                    help="Temporal's Web UI port (default: $LNERE_TEMPORAL_UI_PORT or 8233)")
    up.add_argument("--api-port", type=int, metavar="PORT",
                    help="HTTP API and dashboard port (default: $LNERE_API_PORT or 8000)")
    up.set_defaults(handler=cmd_up)
    reports_ = sub.add_parser("reports", help="the progress reports issued to parties and electoral bodies on the "
                                              "process's schedule, and the schedule")
    reports_.add_argument("action", choices=["list", "get", "verify", "derive", "issue", "schedule", "pause",
                                             "resume", "trigger"],
                          help="list; get N (its bytes, checked against its hash); verify N (made again from the "
                               "event log at its position); derive --position P (figures at any past position); "
                               "issue (what is due, now); schedule (its state); pause, resume, trigger (the "
                               "schedule)")
    reports_.add_argument("number", nargs="?", type=int, help="get, verify: the issue's number")
    reports_.add_argument("--format", choices=["json", "csv", "md"], default="json",
                          help="get, derive: the rendering (default json)")
    reports_.add_argument("--out", metavar="FILE", help="get: write it here instead of stdout")
    reports_.add_argument("--position", type=int, help="derive: the event-log position")
    reports_.add_argument("--state", metavar="CODE",
                          help="list, get, verify, derive: one state's own report (INEGI code, e.g. 16)")
    reports_.add_argument("--as-of", help="derive: business date YYYY-MM-DD (default everything)")
    reports_.set_defaults(handler=cmd_reports)
    sub.add_parser("codes", help="the codes the process takes (reasons, topics, offices, voting sites)"
                   ).set_defaults(handler=cmd_codes)
    process_ = sub.add_parser("process", help="process files: check one, or print their JSON Schema").add_subparsers(
        dest="action", required=True)
    process_check = process_.add_parser("check", help="read a process file as lnere loads it: exit 2 naming each "
                                                      "field and the reason")
    process_check.add_argument("file", metavar="FILE", help="the process file (JSON)")
    process_check.set_defaults(handler=cmd_process)
    process_.add_parser("schema", help="the JSON Schema of process files (docs/process-file.schema.json)"
                        ).set_defaults(handler=cmd_process)
    sub.add_parser("status", help="how the stack on the data dir is: each component ready or why not "
                                  "(exit 5 when one is not)").set_defaults(handler=cmd_status)
    sub.add_parser("api", help="run the HTTP API and dashboard").set_defaults(handler=cmd_api)
    staff = sub.add_parser("staff", help="staff members and their API tokens").add_subparsers(
        dest="action", required=True)
    staff_add = staff.add_parser("add", help="add a staff member (or renew their token); prints the token once")
    staff_add.add_argument("staff", help="staff id (no personal data needed: an employee number will do)")
    staff_add.add_argument("--role", required=True, choices=[role.value for role in Role],
                           help="what they may do (README, 'HTTP API and dashboard')")
    staff_add.add_argument("--party", help="the party code of a party representative (role party), e.g. PAN")
    staff_add.add_argument("--state", metavar="CODE",
                           help="the state of a state electoral body's member (role opl): INEGI code, e.g. 16")
    staff_add.set_defaults(handler=cmd_staff_add)
    staff.add_parser("list", help="staff members and roles").set_defaults(handler=cmd_staff_list)
    staff_revoke = staff.add_parser("revoke", help="revoke a staff member's token")
    staff_revoke.add_argument("staff", help="the staff id whose token stops working at once")
    staff_revoke.set_defaults(handler=cmd_staff_revoke)
    sub.add_parser("worker", help="run a worker").set_defaults(handler=cmd_worker)
    projections = sub.add_parser(
        "projections", help="run the projection runner; 'status': its position, the log head, a halt and its "
                            "reason; 'skip': pass over the event it halted at (recorded, shown with the figures)")
    projections.add_argument("action", nargs="?", choices=["run", "status", "skip"], default="run",
                             help="run (default), status or skip")
    projections.add_argument("--position", type=int, help="skip: the position the projection halted at")
    projections.add_argument("--reason", help="skip: why the event is passed over")
    projections.add_argument("--staff", help="skip: who decided it")
    projections.set_defaults(handler=cmd_projections)

    def journey_ref(p: argparse.ArgumentParser) -> None:
        group = p.add_mutually_exclusive_group()
        group.add_argument("--journey", metavar="ID",
                           help="the journey: its workflow_id (journey-<process>-<hash>) or its journey_id")
        group.add_argument("--clave", help="the citizen's clave de elector")

    groups: dict[str, Any] = {}
    add_command_parsers(sub, groups, cmd_send, journey_ref, _business_time)

    document = sub.add_parser("document", help="the expediente's documents").add_subparsers(dest="action",
                                                                                         required=True)
    add_document = document.add_parser("add", help="check and store a document of a citizen's expediente; prints "
                                                   "its reference (a request or a subsane then names it)")
    journey_ref(add_document)
    add_document.add_argument("--kind", required=True, help="its kind, of the process's catalogue (lnere codes)")
    add_document.add_argument("file", help="the document: a JPEG, PNG or PDF")
    add_document.set_defaults(handler=cmd_document_add)

    milestone = sub.add_parser("milestone", help="the process calendar").add_subparsers(dest="action", required=True)
    fire = milestone.add_parser("fire", help="fire a milestone (replay mode)")
    fire.add_argument("milestone", choices=[m.value for m in Milestone], help="the milestone to fire")
    fire.add_argument("--at", type=_business_time, help="business time (default: the configured date)")
    fire.set_defaults(handler=cmd_milestone_fire)

    import_ = sub.add_parser("import", help="drive a command file (JSON Lines) through the engine")
    import_.add_argument("file", help="the command file: JSON Lines, one command per line (docs/command-file.md)")
    import_.add_argument("--rejects", help="where refused lines are listed (default FILE.rejects.jsonl)")
    import_.add_argument("--concurrency", type=int, default=64, help="journeys in flight (default 64)")
    import_.add_argument("--restart", action="store_true",
                         help="forget what an earlier run of this file answered and send every line again")
    import_.set_defaults(handler=cmd_import)

    lists = sub.add_parser("list", help="the final lists as cut at their milestones").add_subparsers(
        dest="action", required=True)
    lists.add_parser("show", help="the cuts: position, parts, sizes, hashes").set_defaults(handler=cmd_list_show)
    export = lists.add_parser("export", help="write a list's CSV per state (and modality), checked against its hash")
    export.add_argument("kind", choices=[k.value for k in ListKind], help="which list")
    export.add_argument("--out", required=True, help="folder for the CSV files (they hold personal data)")
    export.add_argument("--state", help="one state code only")
    export.set_defaults(handler=cmd_list_export)
    lists.add_parser("departures", help="who left between the list for review and the definitive list, and why"
                     ).set_defaults(handler=cmd_list_departures)

    registral = sub.add_parser("registral-check", help="apply a batch of registry changes (CSV clave,result,source)")
    registral.add_argument("file", help="CSV with a header clave,result[,source]; result OK or an exclusion "
                                       "reason code (lnere codes lists them)")
    registral.add_argument("--at", required=True, type=_business_time, help="business time of the check")
    registral.add_argument("--source", default="DERFE", help="source when the CSV has none")
    registral.add_argument("--concurrency", type=int, default=64, help="journeys in flight (default 64)")
    registral.add_argument("--restart", action="store_true",
                           help="forget what an earlier run of this file answered and send every line again")
    registral.set_defaults(handler=cmd_registral_check)

    simulate = sub.add_parser("simulate", help="generate a scenario's population, import it into a process instance "
                                               "of its own, compare its report with the scenario's figures")
    simulate.add_argument("scenario", help="scenario name, e.g. seed-2020-11-30 (simulation/scenarios/)")
    simulate.add_argument("--out", help="where to write the command file (default DATA_DIR/simulations/INSTANCE.jsonl)")
    simulate.add_argument("--no-import", action="store_true", help="only write the command file")
    simulate.add_argument("--concurrency", type=int, default=64, help="journeys in flight (default 64)")
    simulate.add_argument("--timeout", type=float, default=600, help="seconds to wait for the projections")
    simulate.set_defaults(handler=cmd_simulate)

    journey = groups["journey"]
    status = journey.add_parser("status", help="a journey's current status")
    journey_ref(status)
    status.set_defaults(handler=cmd_journey_status)
    history = journey.add_parser("history", help="a journey's events")
    journey_ref(history)
    history.set_defaults(handler=cmd_journey_history)

    report = sub.add_parser("report", help="report section 4.1 as of a date")
    report.add_argument("--as-of", help="business date YYYY-MM-DD (default today)")
    report.add_argument("--state", metavar="CODE", help="one state's own report (INEGI code, e.g. 16)")
    report.add_argument("--format", choices=["json", "md", "csv", "excel"], default="md",
                        help="md (default), json, csv (for programs) or excel (CSV for spreadsheets: "
                             "byte-order mark, INE's words)")
    report.set_defaults(handler=cmd_report)
    return parser


def run(argv: list[str] | None = None) -> int:
    from lnere import logs

    logs.configure(os.environ.get("LNERE_LOG_LEVEL", "WARNING"), component="cli")
    args = build_parser().parse_args(argv)
    try:
        if args.process is None:
            args.process = _settings(args).process
        args.handler(args)
    except UsageError as error:
        print(f"lnere: {error}", file=sys.stderr)
        return ExitCode.USAGE
    except NotFound as error:
        print(f"lnere: {error}", file=sys.stderr)
        return ExitCode.NOT_FOUND
    except ConnectionError as error:
        print(f"lnere: {error}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    except Refused as refused:
        what = "not found" if refused.refusal.kind is RefusalKind.NOT_FOUND else "refused"
        print(f"lnere: {what}: {refused}", file=sys.stderr)
        return EXIT_BY_KIND[refused.refusal.kind]
    except Exception as error:
        from temporalio.service import RPCError

        if isinstance(error, RPCError):
            print(f"lnere: Temporal answered: {error}", file=sys.stderr)
            return ExitCode.FAILED
        raise
    return ExitCode.OK


def main(argv: list[str] | None = None) -> None:
    keep_files_private()  # exports, the event store, Temporal's database: 0600
    try:
        code = run(argv)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # noqa: BLE001 - any failure: its traceback, then exit 1 (below)
        import traceback

        traceback.print_exc()
        code = 1
    # Temporal's SDK may abort while the interpreter finalizes (sdk-python #300): once all
    # output is flushed, leave without finalizing so the exit code is the command's own.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
