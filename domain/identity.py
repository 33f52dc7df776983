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


# A request's folio: what the citizen is told when the request is received, and gives back to
# ask about it. Derived from the journey id under the same key (nothing more to keep): ten
# letters and digits of Crockford's alphabet (no I, L, O, U to misread), 50 bits.
FOLIO_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
FOLIO_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$"


def folio_of(key: bytes, workflow_id: str) -> str:
    digest = int.from_bytes(hmac.new(key, f"folio\x1f{workflow_id}".encode(), hashlib.sha256).digest()[:7], "big")
    letters = "".join(FOLIO_ALPHABET[(digest >> (5 * i)) & 31] for i in range(10))
    return f"{letters[:5]}-{letters[5:]}"


def normal_folio(text: str) -> str:
    """A folio as a person may type it: case, spaces and the letters read as digits forgiven."""
    cleaned = text.upper().replace(" ", "").replace("-", "").translate(str.maketrans("ILO", "110"))
    return f"{cleaned[:5]}-{cleaned[5:]}" if len(cleaned) == 10 else cleaned
