"""Plausible citizens: names, claves de elector, addresses abroad, contacts. Synthetic: every
person is drawn from a seeded random generator, none is real."""

from __future__ import annotations

import functools
import random
import string
import unicodedata
from datetime import date, timedelta

import pycountry

GIVEN_NAMES = {
    "H": ["José", "Juan", "Luis", "Carlos", "Jorge", "Miguel", "Francisco", "Alejandro", "Pedro", "Manuel",
          "Ricardo", "Fernando", "Javier", "Roberto", "Eduardo", "Rafael", "Daniel", "Arturo", "Sergio", "Raúl",
          "Héctor", "Óscar", "Enrique", "Mario", "Alberto", "Jesús", "Antonio", "Gerardo", "Víctor", "Andrés"],
    "M": ["María", "Guadalupe", "Juana", "Margarita", "Verónica", "Leticia", "Rosa", "Patricia", "Elizabeth",
          "Alejandra", "Gabriela", "Adriana", "Claudia", "Silvia", "Laura", "Mónica", "Teresa", "Ana", "Martha",
          "Araceli", "Sofía", "Fernanda", "Lucía", "Daniela", "Mariana", "Carmen", "Beatriz", "Isabel", "Paola",
          "Yolanda"],
}
SURNAMES = ["Hernández", "García", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez", "Ramírez",
            "Cruz", "Flores", "Gómez", "Morales", "Vázquez", "Reyes", "Jiménez", "Torres", "Díaz", "Gutiérrez",
            "Ruiz", "Mendoza", "Aguilar", "Ortiz", "Moreno", "Castillo", "Romero", "Álvarez", "Méndez", "Chávez",
            "Rivera", "Juárez", "Ramos", "Domínguez", "Herrera", "Medina", "Castro", "Vargas", "Guzmán",
            "Velázquez", "Muñoz", "Rojas", "Contreras", "Salazar", "Luna", "Ortega", "Santiago", "Guerrero",
            "Estrada", "Bautista", "Cortés", "Soto", "Alvarado", "Espinoza", "Lara", "Ávila", "Ríos", "Cervantes",
            "Silva", "Delgado", "Vega"]

ENGLISH_STREETS = ["Main St", "Oak Ave", "Maple St", "Cedar Ln", "Elm St", "Park Ave", "Washington Blvd",
                   "Lake Rd", "Hill St", "Pine St", "King St", "Queen St", "Church Rd", "Station Rd"]
SPANISH_STREETS = ["Calle Mayor", "Avenida de la Constitución", "Calle Real", "Calle del Sol", "Paseo de la Paz",
                   "Calle Nueva", "Avenida Libertad"]
OTHER_STREETS = ["Central Street", "Station Road", "Garden Street", "River Road", "Market Street"]
ENGLISH_COUNTRIES = {"US", "CA", "GB", "AU", "NZ", "IE", "ZA", "SG"}
SPANISH_COUNTRIES = {"ES", "AR", "CL", "CO", "PE", "EC", "VE", "UY", "PY", "BO", "CR", "PA", "GT", "HN", "SV", "NI",
                     "DO", "CU", "PR"}
MAIL_DOMAINS = ["example.com", "example.org", "example.net", "correo.example"]


def ascii_upper(text: str) -> str:
    normal = unicodedata.normalize("NFKD", text)
    return "".join(c for c in normal if c in string.ascii_letters).upper()


def _two_letters(word: str) -> str:
    """The first consonant and first vowel after the first letter, as claves are built."""
    letters = ascii_upper(word) or "X"
    first = letters[0]
    rest = letters[1:]
    vowel = next((c for c in rest if c in "AEIOU"), "X")
    return first + vowel


def clave_de_elector(paternal: str, maternal: str | None, given: str, birth: date, state_of_birth: str, sex: str,
                     rng: random.Random) -> str:
    letters = _two_letters(paternal) + _two_letters(maternal or "X") + _two_letters(given)
    homoclave = f"{rng.randrange(10)}{rng.choice(string.ascii_uppercase + string.digits)}{rng.randrange(10)}"
    return f"{letters}{birth:%y%m%d}{state_of_birth}{sex}{homoclave}"


def birth_date_for_age(age: int, on: date, rng: random.Random) -> date:
    """A birth date such that the person is exactly ``age`` whole years old on ``on``."""
    latest = _years_before(on, age)  # turned `age` on or before `on`
    earliest = _years_before(on, age + 1) + timedelta(days=1)
    return earliest + timedelta(days=rng.randrange((latest - earliest).days + 1))


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def years_after(day: date, years: int) -> date:
    return _years_before(day, -years)


@functools.cache
def _regions(country: str) -> tuple[str, ...]:
    return tuple(sorted(s.name for s in pycountry.subdivisions.get(country_code=country) or []))


def address(country: str, rng: random.Random) -> dict[str, str]:
    regions = _regions(country)
    region = rng.choice(regions) if regions else None
    number = rng.randrange(1, 9999)
    if country in ENGLISH_COUNTRIES:
        street = f"{number} {rng.choice(ENGLISH_STREETS)}"
    elif country in SPANISH_COUNTRIES:
        street = f"{rng.choice(SPANISH_STREETS)} {number}"
    else:
        street = f"{rng.choice(OTHER_STREETS)} {number}"
    known = pycountry.countries.get(alpha_2=country)
    city = region or (known.name if known is not None else country)
    body = {"street": street, "city": city.split(",")[0][:120], "postal_code": f"{rng.randrange(10000, 99999)}"}
    if region:
        body["region"] = region[:120]
    return body


def contact(given: str, paternal: str, rng: random.Random, with_phone: bool) -> dict[str, str]:
    user = f"{ascii_upper(given).lower()}.{ascii_upper(paternal).lower()}{rng.randrange(1, 999)}"
    body = {"email": f"{user}@{rng.choice(MAIL_DOMAINS)}"}
    if with_phone:
        body["phone"] = f"+1 {rng.randrange(200, 999)} {rng.randrange(200, 999)} {rng.randrange(1000, 9999)}"
    return body
