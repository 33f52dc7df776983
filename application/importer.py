"""``lnere import``: drives a command file through the engine.

Order: lines are sorted by business time (ties keep file order). Milestones are barriers:
every earlier line is answered before a milestone fires, and no later line is sent before it
is done. Between barriers, each journey's lines go in one Update in their order, and
different journeys run concurrently (they share nothing, so the event store ends the same).

Safety: every answered line is appended to a journal in the data directory, keyed by the
file's SHA-256; a re-run skips what the journal holds and resends the rest. The engine itself
is idempotent (command ids), so resending after a crash, or importing the file again without
its journal, records nothing twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from lnere.application.command_file import Entry, InvalidLine, parse_line
from lnere.application.documents import DocumentFileError, attach_files, names_files
from lnere.application.gateway import JourneyClient
from lnere.domain.commands import FireMilestone
from lnere.domain.refusals import RefusalKind, Refused
from lnere.workflows.messages import MAX_BATCH, BatchResult, OutreachContact

INVALID_RULE = "invalid-line"
# A command line is a few kilobytes; a longer one is refused without being read whole.
MAX_LINE_BYTES = 1 << 20
OUTREACH_IN_FLIGHT = 4


# How long an import waits for the calendar to apply a milestone, and how often it says so.
MILESTONE_TIMEOUT = 6 * 3600.0
MILESTONE_REPORT_EVERY = 15.0


@dataclass
class LineResult:
    line: int
    accepted: bool
    already_recorded: bool = False
    error: str | None = None
    rule: str | None = None

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in self.__dict__.items() if v not in (None, False) or k == "accepted"})

    @classmethod
    def from_json(cls, text: str) -> LineResult:
        return cls(**json.loads(text))


@dataclass
class ImportSummary:
    file: str
    lines: int = 0
    accepted: int = 0
    already_recorded: int = 0
    refused: int = 0
    refused_by_rule: Counter = field(default_factory=Counter)
    journeys: int = 0
    outreach_contacts: int = 0
    milestones: int = 0
    resumed_lines: int = 0
    wall_seconds: float = 0.0
    rejects_file: str | None = None
    processes: list[str] = field(default_factory=list)  # the processes its lines name

    def as_dict(self) -> dict:
        data = dict(self.__dict__)
        data["refused_by_rule"] = dict(self.refused_by_rule.most_common())
        return data


class Progress:
    """Progress of long work on stderr: done/total, rate and ETA over the last half minute (not
    since the start: lines a resumed import had already answered, and a slow start, do not skew
    it). On a terminal, rich's live bar; otherwise (logs, CI) a plain line every few seconds."""

    WINDOW = 30.0  # seconds of samples the rate is measured over

    def __init__(self, total: int, stream: TextIO = sys.stderr, label: str = "importing", already: int = 0) -> None:
        self.total = total
        self.done = already
        self.stream = stream
        self.label = label
        self.tty = stream.isatty()
        self._samples: deque[tuple[float, int]] = deque([(time.monotonic(), already)])
        self._last = 0.0
        self._bar: RichProgress | None = None
        if self.tty:
            self._bar = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"), TextColumn("ETA"), TimeRemainingColumn(),
                console=Console(file=stream), speed_estimate_period=self.WINDOW, redirect_stdout=False,
                redirect_stderr=False)
            self._task = self._bar.add_task(label, total=total, completed=already, rate="")
            self._bar.start()

    def rate(self, now: float) -> float | None:
        """Lines per second over the window; None until there is a second of samples."""
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.WINDOW:
            self._samples.popleft()
        first_at, first_done = self._samples[0]
        return (self.done - first_done) / (now - first_at) if now - first_at >= 1.0 else None

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        self._samples.append((now, self.done))
        if now - self._last >= (0.2 if self.tty else 5.0) or self.done >= self.total:
            self._last = now
            self._draw(now)

    def say(self, text: str) -> None:
        """A line of its own (above the bar on a terminal)."""
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _draw(self, now: float) -> None:
        rate = self.rate(now)
        shown = "– lines/s" if rate is None else f"{rate:,.0f} lines/s"
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, rate=shown)
            return
        left = self.total - self.done
        eta = "--:--" if not rate else f"{int(left / rate) // 60}:{int(left / rate) % 60:02d}"
        pct = 100 * self.done / self.total if self.total else 100.0
        self.stream.write(f"{self.label} {self.done:,}/{self.total:,} lines {pct:5.1f}% {shown} ETA {eta}\n")
        self.stream.flush()


class Journal:
    """Answered lines of one command file, appended as they come (one JSON per line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.results: dict[int, LineResult] = {}
        if path.exists():
            with path.open(encoding="utf-8") as f:
                for text in f:
                    try:
                        result = LineResult.from_json(text)
                    except (json.JSONDecodeError, TypeError):
                        continue  # a line torn by a crash: that line is simply sent again
                    self.results[result.line] = result
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Only the owner reads it: it names the lines a citizen's commands were on.
        self._file = os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a", encoding="utf-8")
        os.chmod(path, 0o600)

    def add(self, results: list[LineResult]) -> None:
        for result in results:
            self.results[result.line] = result
            self._file.write(result.to_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass
class CommandFile:
    entries: list[Entry]  # the valid lines, in business-time order
    invalid: list[LineResult]  # the lines that are not commands, as refusals
    lines: int  # command lines (blank ones are not)
    digest: str  # SHA-256 of the file's bytes: the key of its journal


def read_entries(path: Path, client: JourneyClient) -> CommandFile:
    """Parses every line, hashing the file in the same pass."""
    entries: list[Entry] = []
    invalid: list[LineResult] = []
    count = 0
    digest = hashlib.sha256()
    with path.open("rb") as f:
        number = 0
        while raw := f.readline(MAX_LINE_BYTES + 1):
            number += 1
            digest.update(raw)
            too_long = len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n")
            while too_long and (rest := f.readline(MAX_LINE_BYTES)):  # the rest of that line, unread
                digest.update(rest)
                if rest.endswith(b"\n"):
                    break
            if not too_long and not raw.strip():
                continue
            count += 1
            try:
                if too_long:
                    raise InvalidLine(f"the line is longer than {MAX_LINE_BYTES:,} bytes")
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise InvalidLine(f"not UTF-8 (byte {error.start + 1} of the line)") from None
                if client.documents is not None and '"file"' in text:
                    text = _with_documents(text, path, client)
                entries.append(parse_line(text, number, client.processes, client.journey_key))
            except InvalidLine as error:
                invalid.append(LineResult(number, accepted=False, error=str(error), rule=INVALID_RULE))
    entries.sort(key=lambda e: (e.at, e.line))
    return CommandFile(entries, invalid, count, digest.hexdigest())


def _with_documents(text: str, path: Path, client: JourneyClient) -> str:
    """A line naming documents by file, with each file stored and named by its reference."""
    try:
        line = json.loads(text)
    except (ValueError, RecursionError):
        return text  # the parser says why
    if not names_files(line):
        return text
    assert client.documents is not None
    try:
        attached = attach_files(client.documents, client.processes, client.journey_key, line, path.parent,
                                (line.get("command") or {}).get("recorded_by"))
    except DocumentFileError as error:
        raise InvalidLine(f"documents: {error}") from None
    return json.dumps(attached)


def segments(entries: list[Entry]) -> list[tuple[list[Entry], Entry | None]]:
    """Splits entries at milestones: [(journey lines before it, the milestone)], the last
    segment with no milestone."""
    out: list[tuple[list[Entry], Entry | None]] = []
    current: list[Entry] = []
    for entry in entries:
        if isinstance(entry.command, FireMilestone):
            out.append((current, entry))
            current = []
        else:
            current.append(entry)
    out.append((current, None))
    return out


def by_journey(entries: list[Entry]) -> dict[str, list[Entry]]:
    """Journey lines by journey (workflow id), in the order of the file."""
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        assert entry.workflow_id is not None, "a milestone is not a journey's line"
        groups.setdefault(entry.workflow_id, []).append(entry)
    return groups


async def run_import(
    path: Path,
    client: JourneyClient,
    journal_dir: Path,
    rejects_path: Path,
    *,
    concurrency: int = 64,
    restart: bool = False,
    progress_stream: TextIO = sys.stderr,
    on_progress: Callable[[int], None] | None = None,
    milestone_timeout: float = MILESTONE_TIMEOUT,
) -> ImportSummary:
    started = time.monotonic()
    summary = ImportSummary(file=str(path))
    command_file = read_entries(path, client)
    summary.lines = command_file.lines
    summary.processes = sorted({entry.process for entry in command_file.entries})
    journal_path = journal_dir / f"{command_file.digest[:32]}.journal"
    if restart and journal_path.exists():
        journal_path.unlink()
    journal = Journal(journal_path)
    summary.resumed_lines = len(journal.results)
    journal.add([r for r in command_file.invalid if r.line not in journal.results])
    progress = Progress(summary.lines, progress_stream, already=len(journal.results))
    semaphore = asyncio.Semaphore(concurrency)

    async def record(chunk: list[Entry], sending: Awaitable[BatchResult]) -> None:
        """Awaits a chunk's answers, one per line, into the journal and the progress line."""
        try:
            result = await sending
            answers = [LineResult(e.line, o.accepted, o.already_recorded, o.error, o.rule)
                       for e, o in zip(chunk, result.outcomes, strict=True)]
        except Refused as refused:
            if refused.refusal.kind is RefusalKind.UNAVAILABLE:
                raise  # not the lines' fault: the import stops, and a re-run sends them again
            answers = [LineResult(e.line, False, error=str(refused), rule=refused.refusal.rule) for e in chunk]
        journal.add(answers)
        progress.advance(len(answers))
        if on_progress is not None:
            on_progress(progress.done)

    async def send_journey(workflow_id: str, group: list[Entry]) -> None:
        pending = [e for e in group if e.line not in journal.results]
        if not pending:
            return
        async with semaphore:
            for start in range(0, len(pending), MAX_BATCH):
                chunk = pending[start:start + MAX_BATCH]
                await record(chunk, client.send_batch(chunk[0].process, workflow_id, [e.command for e in chunk]))

    # One outreach workflow per process takes the batches one at a time, and Temporal caps the
    # Updates in flight per workflow (10 on the dev server): a few in flight keep it busy.
    outreach_semaphore = asyncio.Semaphore(OUTREACH_IN_FLIGHT)

    async def send_outreach(chunk: list[Entry]) -> None:
        async with outreach_semaphore:
            contacts = [OutreachContact(journey=e.workflow_id, command=e.command) for e in chunk]
            await record(chunk, client.send_outreach(chunk[0].process, contacts))

    async def run_all(sends) -> None:
        tasks = [asyncio.ensure_future(send) for send in sends]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            # Let cancelled sends finish unwinding; their errors are not this one's.
            await asyncio.gather(*tasks, return_exceptions=True)

    try:
        journeys: set[str] = set()
        for segment_entries, milestone in segments(command_file.entries):
            groups = by_journey([e for e in segment_entries if not e.outreach])
            journeys.update(groups)
            await run_all(send_journey(workflow_id, g) for workflow_id, g in groups.items())
            # After the journeys: a call that registered a citizen names a request now recorded.
            outreach = [e for e in segment_entries if e.outreach and e.line not in journal.results]
            summary.outreach_contacts += sum(e.outreach for e in segment_entries)
            by_process: dict[str, list[Entry]] = {}
            for entry in outreach:
                by_process.setdefault(entry.process, []).append(entry)
            await run_all(send_outreach(entries[i:i + MAX_BATCH])
                          for entries in by_process.values() for i in range(0, len(entries), MAX_BATCH))
            if milestone is not None:
                summary.milestones += 1
                if milestone.line not in journal.results:
                    try:
                        await _fire_and_wait(client, milestone, progress, milestone_timeout)
                        answer = LineResult(milestone.line, True)
                    except Refused as refused:
                        if refused.refusal.kind is RefusalKind.UNAVAILABLE:
                            raise
                        answer = LineResult(milestone.line, False, error=str(refused), rule=refused.refusal.rule)
                    journal.add([answer])
                    progress.advance(1)
        summary.journeys = len(journeys)
    finally:
        journal.close()
        progress.close()
    for result in journal.results.values():
        if result.accepted:
            summary.accepted += 1
            summary.already_recorded += result.already_recorded
        else:
            summary.refused += 1
            summary.refused_by_rule[result.rule or "refused"] += 1
    write_rejects(rejects_path, journal.results)
    summary.rejects_file = str(rejects_path) if summary.refused else None
    summary.wall_seconds = round(time.monotonic() - started, 2)
    return summary


class MilestoneTimeout(Exception):
    """A milestone the calendar had not applied within the import's bound."""


async def _fire_and_wait(client: JourneyClient, milestone: Entry, progress: Progress, timeout: float) -> None:
    """Fires the milestone and waits for the calendar to apply it, saying every few seconds how
    long it has waited; past ``timeout`` the import stops (the calendar goes on, and the import
    run again resumes at this line)."""
    command = milestone.command
    assert isinstance(command, FireMilestone), "a line without a journey is a milestone"
    name = command.milestone.value
    fire = asyncio.ensure_future(client.fire_milestone(milestone.process, command))
    started = time.monotonic()
    try:
        while True:
            waited = time.monotonic() - started
            done, _ = await asyncio.wait({fire}, timeout=min(MILESTONE_REPORT_EVERY, max(timeout - waited, 0.01)))
            if done:
                fire.result()
                if waited >= MILESTONE_REPORT_EVERY:
                    progress.say(f"milestone {name} applied after {time.monotonic() - started:,.0f} s")
                return
            waited = time.monotonic() - started
            if waited >= timeout:
                raise MilestoneTimeout(
                    f"milestone {name} was not applied within {timeout:,.0f} s; the calendar goes on applying "
                    f"it: run the same import again to wait for it and go on")
            progress.say(f"waiting for the calendar to apply milestone {name}: {waited:,.0f} s")
    finally:
        if not fire.done():
            fire.cancel()
            await asyncio.gather(fire, return_exceptions=True)


def write_rejects(path: Path, results: dict[int, LineResult]) -> None:
    """The refused lines by line number, with the error; no copy of the line's content (it
    may hold personal data)."""
    refused = [results[n] for n in sorted(results) if not results[n].accepted]
    if not refused:
        if path.exists():
            path.unlink()
        return
    with path.open("w", encoding="utf-8") as f:
        for result in refused:
            f.write(json.dumps({"line": result.line, "rule": result.rule, "error": result.error},
                               ensure_ascii=False) + "\n")
