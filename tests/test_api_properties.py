"""Bad input at scale for the HTTP API (hypothesis): every endpoint, with mutated and arbitrary
bodies, paths and queries, over real HTTP on the real stack.

Properties: no input gets a 500; a refusal is 404, 405, 409, 413 or 422 (403 only for an
observation not filed by a party's representative); a 422 names each field it refuses; a 409
gives the reason and its rule.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.citizens import at, credential, request
from tests.test_api_access import EXPECTED_ROLES, JOURNEY

# Its subject is the HTTP bodies and answers, not storage: run once, on SQLite (tests/conftest.py).
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.any_backend]

REFUSALS = {404, 405, 409, 413, 422}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def valid_bodies(process: str) -> dict[str, dict]:
    rng = random.Random(11)
    citizen = credential(rng)
    filed = {k: v for k, v in request(citizen, when=at("2020-10-05 10:00")).items() if k != "kind"}
    when = at("2020-10-20 10:00").isoformat()
    return {
        "credentials": {"at": when, "credential": credential(rng)},
        "requests": filed,
        "credential-activation": {"at": when},
        "resend_credential": {"at": when, "reason": "returned"},
        "request_cpve": {"at": when, "credential": credential(rng, activated=False), "office": "CONS_CHICAGO",
                         "state_of_reference": "14"},
        "record_cpve_step": {"at": when, "step": "produced"},
        "cancel_cpve": {"at": when},
        "review": {"at": when, "outcome": "inconsistencies", "reasons": ["DATA_MISMATCH"]},
        "subsane-documents": {"at": when, "documents": ["ADDRESS_PROOF"]},
        "rejection-reopening": {"at": when, "clarification": "the citizen sent the document"},
        "milestones": {"at": when},
        "observations": {"at": when, "observation_id": "PAN_0001", "reason": "the citizen died in 2019"},
        "resolution": {"at": when, "upheld": True, "reason": "death certificate"},
        "delivery": {"at": when, "status": "postal_delivered", "reference": "PKG-1"},
        "attentions": {"at": when, "service": "vmre", "topic": "VOTE_INTENTION", "channel": "telephone",
                       "origin": "united_states", "command_id": "ticket-1"},
        "campaigns": {"code": "CPVE_X", "name": "x", "at": when, "source": "cpve_without_request"},
        "next": {"at": when},
        "{journey}": {"at": when, "outcome": "informed"},
        "{action}": {"note": "no body is read"},
        "documents": {"kind": "SIGNATURE", "clave": "GRLPAN85031209M700"},  # a form is wanted: JSON is refused
    }


@st.composite
def mutated(draw, body: dict) -> dict | object:
    """A valid body with one field deleted, replaced or added, or any JSON value at all."""
    choice = draw(st.sampled_from(["delete", "replace", "add", "nested", "anything"]))
    body = json.loads(json.dumps(body))
    if choice == "anything":
        return draw(json_values)
    key = draw(st.sampled_from(sorted(body)))
    if choice == "delete":
        body.pop(key)
    elif choice == "replace":
        body[key] = draw(json_values)
    elif choice == "add":
        body[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    elif isinstance(body[key], dict) and body[key]:
        inner = draw(st.sampled_from(sorted(body[key])))
        body[key][inner] = draw(json_values)
    else:
        body[key] = draw(st.text(max_size=60))
    return body


segment = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@st.composite
def requests_(draw, process: str):
    (method, template), roles = draw(st.sampled_from(sorted(EXPECTED_ROLES.items())))
    role = draw(st.sampled_from(sorted(roles)))
    values = {
        "process": draw(st.sampled_from([process, process, "no-such-process"]) | segment),
        "journey": draw(st.sampled_from([JOURNEY.format(process=process)]) | segment
                        | st.from_regex(r"journey-[a-z0-9-]{1,20}-[0-9a-f]{32}", fullmatch=True)),
        "milestone": draw(st.sampled_from(["registration_closed", "definitive_list"]) | segment),
        "observation_id": draw(st.sampled_from(["PAN_0001"]) | segment),
        "kind": draw(st.sampled_from(["review", "definitive"]) | segment),
        "entity": draw(st.sampled_from(["09", "14", "16"]) | segment),
        "number": draw(st.sampled_from(["1", "13", "14"]) | segment),
        "action": draw(st.sampled_from(["pause", "resume", "trigger"]) | segment),
        "code": draw(st.sampled_from(["CPVE_X"]) | segment),
        "document_id": draw(st.sampled_from(["0" * 32]) | segment),
        "staff_id": draw(st.sampled_from(["reviewer.1"]) | segment),
    }
    path = template.format(**{name: quote(value, safe="") for name, value in values.items()})
    query = draw(st.dictionaries(
        st.sampled_from(["as_of", "after", "wait", "format", "limit", "country", "channel", "modality", "review",
                         "state_of_reference", "day", "x"]),
        st.text(max_size=20) | st.integers(-5, 500).map(str), max_size=3))
    if "wait" in query:
        query["wait"] = "0.01"  # a long poll answers at once; its waiting is tested elsewhere
    content = None
    if method == "POST":
        kind = "milestones" if "{milestone}" in template else template.rsplit("/", 1)[-1]
        payload = draw(mutated(valid_bodies(process)[kind]) | json_values)
        content = draw(st.sampled_from(["json", "json", "bytes"]))
        content = json.dumps(payload).encode() if content == "json" else draw(st.binary(max_size=200))
    return method, path, query, content, role




async def test_no_request_gets_a_server_error(api):
    # hypothesis runs in a thread with a blocking client: the server runs on this loop.
    seen: Counter = Counter()

    def run() -> None:
        with httpx.Client(base_url=api.base_url, timeout=60) as http:

            @settings(max_examples=2_000, deadline=None, suppress_health_check=list(HealthCheck))
            @given(case=requests_(api.process))
            def prop(case) -> None:
                method, path, query, content, role = case
                headers = api.auth(role) | {"content-type": "application/json"}
                answer = http.request(method, path, params=query, content=content, headers=headers)
                event(f"{method} {answer.status_code}")
                seen[answer.status_code] += 1
                assert answer.status_code != 500 and answer.status_code < 500, (method, path, answer.text)
                if answer.status_code == 403:
                    # Access is decided by role before this; past it, two more checks: only a party's
                    # representative files an observation (a supervisor may do all else), and a
                    # state's electoral body reads its own state only.
                    if role == "opl":
                        assert "/lists/" in path and not path.endswith("/16"), (method, path, answer.text)
                        assert answer.json()["detail"] == "a state's electoral body reads its own state's figures only"
                    else:
                        assert path.endswith("/observations") and role != "party", (method, path, role, answer.text)
                        assert answer.json()["detail"] == "only a party representative files observations"
                elif answer.status_code >= 400:
                    assert answer.status_code in REFUSALS, (method, path, answer.status_code, answer.text)
                    detail = answer.json()["detail"]
                    if answer.status_code == 422:
                        assert detail and all(d["loc"] and d["msg"] for d in detail), answer.text
                    elif answer.status_code == 409:
                        assert isinstance(detail, str) and answer.json()["rule"], answer.text
                    else:
                        assert detail

            prop()

    await asyncio.to_thread(run)
    print(f"answers by status: {dict(sorted(seen.items()))}")
    # The inputs reached past access and validation: some were answered, some not found.
    assert {200, 404, 422} <= set(seen), seen
