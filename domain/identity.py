"""Journey identity: a keyed hash of the clave and the process, never the clave itself."""

from __future__ import annotations

import hashlib
import hmac
import re
from uuid import UUID, uuid5

# A journey's workflow id: its process and a keyed hash of the clave (never the clave).
JOURNEY_ID_PATTERN = r"^journey-[a-z0-9-]+-[0-9a-f]{32}$"
WORKFLOW_ID = re.compile(r"^journey-(?P<process>[a-z0-9-]+)-(?P<hash>[0-9a-f]{32})$")


def journey_workflow_id(key: bytes, process_id: str, clave: str) -> str:
    digest = hmac.new(key, f"{process_id}\x1f{clave.upper()}".encode(), hashlib.sha256).hexdigest()
    return f"journey-{process_id}-{digest[:32]}"


def journey_uuid(workflow_id: str) -> UUID:
    """The aggregate id of the journey a workflow runs: the same hash, as a UUID."""
    match = WORKFLOW_ID.match(workflow_id)
    if not match:
        raise ValueError(f"not a journey id: {workflow_id!r}")
    return UUID(hex=match["hash"])


def process_of(workflow_id: str) -> str:
    match = WORKFLOW_ID.match(workflow_id)
    if not match:
        raise ValueError(f"not a journey id: {workflow_id!r}")
    return match["process"]


def outreach_uuid(workflow_id: str) -> UUID:
    """The aggregate id of a citizen's outreach record: derived from the journey id, so the two
    meet without the clave and never collide."""
    return uuid5(journey_uuid(workflow_id), "outreach")
