"""The desk's rules with no server (fast lane): a session ends when idle, at its maximum age, at
sign-out, revocation or a new token, and when its cookie was altered; a claim holds an
expediente for one reviewer until it lapses, is released or decided, and two takes at once
leave one holder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lnere.api.desk.sessions import SEEN_EVERY, DeskSessions, SessionEnded
from lnere.application.staff import StaffDirectory
from lnere.domain.roles import Role
from lnere.domain.rules import DomainError
from lnere.store.claims import ClaimRegistry

pytestmark = pytest.mark.fast

IDLE, ABSOLUTE = 30 * 60, 10 * 3600
T0 = 1_800_000_000.0
JOURNEY = "journey-pel-2020-2021-" + "a" * 32


@pytest.fixture
def directory(tmp_path):
    staff = StaffDirectory(tmp_path / "staff.json")
    staff.add("derfe.1", Role.REVIEWER)
    return staff


def signed_in(directory, sessions: DeskSessions, at: float = T0) -> str:
    member = directory.member("derfe.1")
    return sessions.issue(member, directory.session_stamp("derfe.1"), now=at)


def ended_because(sessions, cookie, directory, at) -> str:
    with pytest.raises(SessionEnded) as ended:
        sessions.read(cookie, directory, now=at)
    return str(ended.value)


def test_a_session_slides_while_used_and_ends_when_idle_or_at_its_maximum_age(directory):
    sessions = DeskSessions(b"k" * 32, IDLE, ABSOLUTE)
    cookie = signed_in(directory, sessions)
    session, renewed = sessions.read(cookie, directory, now=T0 + 10)
    assert session.staff.id == "derfe.1" and renewed is None  # seen a moment ago: no new cookie
    assert "inactividad" in ended_because(sessions, cookie, directory, T0 + IDLE + 1)
    # Used every 25 minutes, it lives on; the cookie written again carries the new "seen".
    at = T0
    for _ in range(int(ABSOLUTE // (25 * 60))):
        at += 25 * 60
        _, renewed = sessions.read(cookie, directory, now=at)
        assert renewed is not None and at - T0 > SEEN_EVERY
        cookie = renewed
    assert "duración máxima" in ended_because(sessions, cookie, directory, T0 + ABSOLUTE + 1)


def test_sign_out_revocation_a_new_token_and_an_altered_cookie_end_it(directory, tmp_path):
    sessions = DeskSessions(b"k" * 32, IDLE, ABSOLUTE)
    cookie = signed_in(directory, sessions)
    directory.sign_out("derfe.1", T0 + 5)
    assert "cerró" in ended_because(sessions, cookie, directory, T0 + 6)
    cookie = signed_in(directory, sessions, T0 + 7)
    directory.add("derfe.1", Role.REVIEWER)  # a new token for the same member
    assert "cambió su clave" in ended_because(sessions, cookie, directory, T0 + 8)
    cookie = signed_in(directory, sessions, T0 + 9)
    assert "no es válida" in ended_because(sessions, cookie[:-2] + "xx", directory, T0 + 10)
    assert "no es válida" in ended_because(DeskSessions(b"o" * 32, IDLE, ABSOLUTE), cookie, directory, T0 + 10)
    directory.revoke("derfe.1")
    assert "retirado" in ended_because(sessions, cookie, directory, T0 + 11)


def test_the_csrf_token_is_the_sessions_own(directory):
    sessions = DeskSessions(b"k" * 32, IDLE, ABSOLUTE)
    mine, _ = sessions.read(signed_in(directory, sessions), directory, now=T0)
    other, _ = sessions.read(signed_in(directory, sessions), directory, now=T0)
    assert sessions.csrf_matches(mine, mine.csrf)
    assert not sessions.csrf_matches(mine, other.csrf) and not sessions.csrf_matches(mine, None)
    token, cookie = sessions.sign_in_token()
    assert sessions.sign_in_token_matches(cookie, token)
    assert not sessions.sign_in_token_matches(cookie, token + "x") and not sessions.sign_in_token_matches(None, token)


@pytest.fixture
def claims():
    app = ClaimRegistry(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()


NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
HOLD = timedelta(minutes=30)


def test_a_claim_holds_for_one_reviewer_until_it_lapses_is_released_or_decided(claims):
    claims.take(JOURNEY, "derfe.1", NOW, HOLD)
    claims.take(JOURNEY, "derfe.1", NOW + timedelta(minutes=5), HOLD)  # the holder takes it again: renewed
    with pytest.raises(DomainError, match=r"\[claim-held\]"):
        claims.take(JOURNEY, "derfe.2", NOW + timedelta(minutes=34), HOLD)
    with pytest.raises(DomainError, match=r"\[claim-held\]"):
        claims.release(JOURNEY, "derfe.2", NOW + timedelta(minutes=10))
    assert claims.holders([JOURNEY], NOW + timedelta(minutes=34)) == {JOURNEY: "derfe.1"}
    assert claims.holders([JOURNEY], NOW + timedelta(minutes=35)) == {}  # lapsed
    claims.take(JOURNEY, "derfe.2", NOW + timedelta(minutes=36), HOLD)
    claims.release(JOURNEY, "supervisor.1", NOW + timedelta(minutes=37), supervisor=True)
    with pytest.raises(DomainError, match=r"\[claim-free\]"):
        claims.release(JOURNEY, "derfe.2", NOW + timedelta(minutes=38))
    claims.take(JOURNEY, "derfe.3", NOW + timedelta(minutes=39), HOLD)
    claims.decided(JOURNEY, "derfe.3", NOW + timedelta(minutes=40), "2026-12-08")
    claims.decided(JOURNEY, "derfe.3", NOW + timedelta(minutes=41), "2026-12-08")  # a repeat: once
    assert claims.holders([JOURNEY], NOW + timedelta(minutes=41)) == {}
    assert claims.decisions_per_day("pel-2020-2021", ["derfe.1", "derfe.3"], ["2026-12-08", "2026-12-07"]) == {
        ("derfe.3", "2026-12-08"): 1}


def test_two_takes_at_once_leave_one_holder(claims):
    claims.take(JOURNEY, "derfe.1", NOW, HOLD)
    claims.release(JOURNEY, "derfe.1", NOW + timedelta(minutes=1))
    # Two reviewers read the free claim at the same version, then both take it.
    first, second = claims.claim(JOURNEY), claims.claim(JOURNEY)
    first.take("derfe.2", NOW + timedelta(minutes=2), HOLD)
    second.take("derfe.3", NOW + timedelta(minutes=2), HOLD)
    claims.save(first)
    with pytest.raises(DomainError, match=r"\[claim-held\]"):
        claims._save(second)
    assert claims.holders([JOURNEY], NOW + timedelta(minutes=3)) == {JOURNEY: "derfe.2"}
