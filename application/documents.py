"""Documents named by file, for the doors that read files: a command file's line (``lnere
import``) and a command given to the CLI as JSON may name a document as ``{"kind": …, "file":
"relative/path"}`` — relative to the command's own file, never outside its folder. Each file is
checked and stored like an upload (``DocumentRegistry.add``) and its entry replaced by the
reference the upload answers, so a migration of a whole process with its documents is one
``lnere import``. The same file for the same citizen and kind gets the same id: an import
resumed or sent again names the same documents and counts once."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lnere.domain.commands import JOURNEY_COMMANDS, DocumentRef
from lnere.domain.identity import journey_workflow_id
from lnere.domain.process import ProcessCatalog
from lnere.domain.rules import DomainError
from lnere.domain.values import ClaveElector
from lnere.store.documents import DocumentRegistry

# The fields that name a command's documents (a request's, a subsane's), as the commands declare them.
DOCUMENT_FIELDS = tuple(dict.fromkeys(spec.documents for spec in JOURNEY_COMMANDS.values() if spec.documents))
MAX_FILE_BYTES = 20 * 1024 * 1024


class DocumentFileError(ValueError):
    """A document named by file that cannot be taken: the message says which and why."""


def names_files(data: Any) -> bool:
    command = data.get("command") if isinstance(data, dict) else None
    return isinstance(command, dict) and any(
        isinstance(entry, dict) and "file" in entry for field in DOCUMENT_FIELDS
        for entry in (command.get(field) or []) if isinstance(command.get(field), list))


def attach_files(documents: DocumentRegistry, processes: ProcessCatalog, journey_key: bytes, line: dict[str, Any],
                 base: Path, by: str | None) -> dict[str, Any]:
    """The line with each ``{"kind", "file"}`` entry replaced by the stored document's reference."""
    command = dict(line["command"])
    try:
        process = processes.get(str(line.get("process")))
    except KeyError as error:
        raise DocumentFileError(error.args[0]) from None
    workflow_id = _workflow_id(line, command, process.id, journey_key)
    root = base.resolve()
    named = {field: command[field] for field in DOCUMENT_FIELDS if isinstance(command.get(field), list)}
    # Every file read and checked before any is stored: a line refused stores nothing.
    read = {id(entry): _read(documents, process, entry, root) for entries in named.values() for entry in entries
            if isinstance(entry, dict) and "file" in entry}
    for field, entries in named.items():
        command[field] = [_attach(documents, process, workflow_id, *read[id(entry)], by) if id(entry) in read
                          else entry for entry in entries]
    return {**line, "command": command}


def attach_file(documents: DocumentRegistry, process: Any, workflow_id: str, kind: str, path: Path,
                by: str | None) -> DocumentRef:
    """One file a person names (the CLI), checked and stored like a command file's."""
    path = path.resolve()
    entry = {"kind": kind, "file": path.name}
    return DocumentRef.model_validate(_attach(documents, process, workflow_id,
                                              *_read(documents, process, entry, path.parent), by))


def _read(documents: DocumentRegistry, process: Any, entry: dict[str, Any], root: Path) -> tuple[str, str, bytes]:
    """(kind, file name, bytes) of an entry whose file passed the checks."""
    kind, name = entry.get("kind"), entry.get("file")
    if not isinstance(kind, str) or not isinstance(name, str) or set(entry) != {"kind", "file"}:
        raise DocumentFileError('a document named by file is {"kind": …, "file": …}')
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise DocumentFileError(f"{name}: a document's file lies in the command file's folder")
    try:
        if not path.is_file():
            raise DocumentFileError(f"{name}: no such file")
        data = path.read_bytes() if path.stat().st_size <= MAX_FILE_BYTES else b"\0" * (MAX_FILE_BYTES + 1)
    except OSError as error:
        raise DocumentFileError(f"{name}: cannot be read ({error.strerror})") from None
    try:
        documents.check(process, kind, path.name, data)
    except DomainError as error:
        raise DocumentFileError(f"{name}: {error.refusal.message}") from None
    return kind, path.name, data


def _attach(documents: DocumentRegistry, process: Any, workflow_id: str, kind: str, name: str, data: bytes,
            by: str | None) -> dict[str, str]:
    # The same file for the same citizen and kind: the same id, so a resend counts once.
    document_id = hmac.new(workflow_id.encode(), f"{kind}|{hashlib.sha256(data).hexdigest()}".encode(),
                           "sha256").hexdigest()[:32]
    try:
        ref = documents.add(process, workflow_id, kind, name, data, by, datetime.now(UTC), document_id=document_id)
    except DomainError as error:
        raise DocumentFileError(f"{name}: {error.refusal.message}") from None
    return ref.model_dump()


def _workflow_id(line: dict[str, Any], command: dict[str, Any], process_id: str, journey_key: bytes) -> str:
    if isinstance(line.get("journey"), str):
        return line["journey"]
    credential = command.get("credential")
    clave = line.get("clave") or (credential.get("clave") if isinstance(credential, dict) else None)
    try:
        return journey_workflow_id(journey_key, process_id, ClaveElector.parse(str(clave or "")))
    except ValueError as error:
        raise DocumentFileError(f"clave: {error}") from None
