"""Builders of plausible citizens and commands for the tests (claves consistent with the
holder's birth date and sex)."""

from __future__ import annotations

import random
import string
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

MEXICO_CITY = ZoneInfo("America/Mexico_City")


def at(text: str) -> datetime:
    """A business time in Mexico City from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=MEXICO_CITY)


def clave_for(birth_date: date, sex: str, rng: random.Random, state_of_birth: int = 9) -> str:
    letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(6))
    homoclave = f"{rng.randrange(10)}{rng.randrange(100):02d}"
    return f"{letters}{birth_date:%y%m%d}{state_of_birth:02d}{sex}{homoclave}"


def credential(
    rng: random.Random,
    *,
    kind: str = "CPVE",
    birth_date: date = date(1980, 7, 5),
    sex: str = "M",
    activated: bool = True,
    valid_until: date = date(2029, 12, 31),
) -> dict[str, Any]:
    return {
        "kind": kind,
        "clave": clave_for(birth_date, sex, rng),
        "holder": {
            "given_names": rng.choice(["Ana", "María", "Lucía", "José", "Juan", "Pedro"]),
            "paternal_surname": rng.choice(["García", "Hernández", "López", "Martínez"]),
            "maternal_surname": rng.choice(["Pérez", "Sánchez", "Ramírez", None]),
            "birth_date": birth_date.isoformat(),
            "sex": sex,
        },
        "issued_on": "2018-01-15",
        "valid_until": valid_until.isoformat(),
        "activated_on": "2018-03-01" if activated and kind == "CPVE" else None,
    }


def request(
    cred: dict[str, Any] | None,
    *,
    when: datetime,
    channel: str = "INETEL",
    state: str = "09",
    country: str = "US",
    modality: str = "postal",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "file_request",
        "at": when.isoformat(),
        "channel": channel,
        "state_of_reference": state,
        "country": country,
        "address": {"street": "1200 W 7th St", "city": "Los Angeles", "region": "CA", "postal_code": "90017"},
        "contact": {"email": "citizen@example.org"},
        "modality": modality,
    }
    if cred is not None:
        body["credential"] = cred
    return body


def later(moment: datetime, **delta: float) -> datetime:
    return moment + timedelta(**delta)
