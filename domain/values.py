"""Value objects of a citizen's journey, validated at every boundary."""

from __future__ import annotations

import gettext
import json
import re
import unicodedata
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

# Loaded once at import: lookups must not read files later (workflow sandbox, hot paths).
ISO_ALPHA2: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)
_SPANISH = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["es"], fallback=True)
_INE_LABELS: dict[str, str] = json.loads(
    (Path(__file__).parent / "data" / "country_labels_es.json").read_text(encoding="utf-8")
)["labels"]
COUNTRY_NAMES_ES: dict[str, str] = {
    c.alpha_2: _INE_LABELS.get(c.alpha_2, _SPANISH.gettext(c.name)) for c in pycountry.countries
}


def country_name_es(code: str) -> str:
    return COUNTRY_NAMES_ES.get(code, code)


class Sex(StrEnum):
    """As printed on the credential and in the clave: H (hombre) or M (mujer)."""

    H = "H"
    M = "M"


class CredentialKind(StrEnum):
    CPVE = "CPVE"  # issued abroad
    CPV = "CPV"  # issued in Mexico


def _country_abroad(value: str) -> str:
    if value not in ISO_ALPHA2:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    if value == "MX":
        raise ValueError("the country of residence must be abroad, not MX")
    return value


CountryCode = Annotated[str, Field(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$"), AfterValidator(_country_abroad)]

# ASCII only: \d would take any Unicode digit (fullwidth, Arabic-Indic…), and one citizen
# written with other digits would get another journey.
CLAVE_PATTERN = re.compile(r"[A-Z]{6}[0-9]{8}[HM][0-9A-Z]{3}", re.ASCII)


class ClaveElector(str):
    """18 characters: 6 letters, birth date YYMMDD, 2-digit state of birth, sex H/M,
    3-character homoclave."""

    @classmethod
    def parse(cls, value: str) -> ClaveElector:
        if not isinstance(value, str):
            raise ValueError("clave de elector must be a string")
        # Never normalised: a clave is taken exactly as written or refused (the message never
        # repeats it: it is personal data).
        if not value.isascii() or not value.isprintable():
            raise ValueError("clave de elector must be ASCII capital letters A-Z and digits 0-9 only")
        if len(value) != 18:
            raise ValueError(f"clave de elector must have 18 characters, got {len(value)}")
        if not CLAVE_PATTERN.fullmatch(value):
            raise ValueError(
                "clave de elector must be 6 capital letters, birth date YYMMDD, 2-digit state of birth, "
                "sex H or M and a 3-character homoclave (A-Z, 0-9)"
            )
        yymmdd = value[6:12]
        try:
            date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6]))
        except ValueError:
            raise ValueError("clave de elector has an impossible birth date") from None
        state = int(value[12:14])
        if not (1 <= state <= 32 or state == 87):
            raise ValueError("clave de elector has an unknown state of birth")
        return cls(value)

    @property
    def birth_yymmdd(self) -> str:
        return self[6:12]

    @property
    def state_of_birth(self) -> str:
        return self[12:14]

    @property
    def sex(self) -> Sex:
        return Sex(self[14])


Clave = Annotated[str, AfterValidator(ClaveElector.parse)]


REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _plain_text(value: str | None) -> str | None:
    """Names and addresses are printable text: control and format characters (NUL, ESC,
    carriage return, zero-width, bidirectional overrides) and the line and paragraph separators
    (U+2028, U+2029: a line splitter sees another row in an export) are refused, never stripped."""
    if value is not None and any(unicodedata.category(c) in REFUSED_CATEGORIES for c in value):
        raise ValueError("holds a control or invisible character")
    return value


PlainText = Annotated[str, AfterValidator(_plain_text)]


class Holder(BaseModel):
    """The citizen named on the credential. Personal data: never logged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    given_names: PlainText = Field(min_length=1, max_length=120)
    paternal_surname: PlainText = Field(min_length=1, max_length=120)
    maternal_surname: PlainText | None = Field(default=None, max_length=120)
    birth_date: date
    sex: Sex


class Credential(BaseModel):
    """A voter credential: CPVE (issued abroad, activated once its receipt is confirmed)
    or CPV (issued in Mexico)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: CredentialKind
    clave: Clave
    holder: Holder
    issued_on: date
    valid_until: date
    activated_on: date | None = Field(
        default=None, description="CPVE only: the day its receipt was confirmed"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Credential:
        clave = ClaveElector(self.clave)
        if clave.birth_yymmdd != self.holder.birth_date.strftime("%y%m%d"):
            raise ValueError(
                "clave: the birth date in the clave does not match holder.birth_date"
            )
        if clave.sex != self.holder.sex:
            raise ValueError("clave: the sex in the clave does not match holder.sex")
        if self.valid_until < self.issued_on:
            raise ValueError("valid_until: before issued_on")
        if self.activated_on is not None:
            if self.kind is not CredentialKind.CPVE:
                raise ValueError("activated_on: only a CPVE is activated")
            if self.activated_on < self.issued_on:
                raise ValueError("activated_on: before issued_on")
        return self


class AddressAbroad(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    street: PlainText = Field(min_length=1, max_length=200)
    city: PlainText = Field(min_length=1, max_length=120)
    region: PlainText | None = Field(default=None, max_length=120)
    postal_code: PlainText | None = Field(default=None, max_length=20)


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Contact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ()-]{7,20}$")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL.match(value):
            raise ValueError("not an e-mail address")
        return value

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if not self.email and not self.phone:
            raise ValueError("contact: give an e-mail or a phone number")
        return self


def age_on(birth_date: date, day: date) -> int:
    """Whole years completed on a day."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))
