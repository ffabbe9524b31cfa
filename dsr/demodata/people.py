"""Synthetic Swedish-looking people for the demo customer systems.

Names and places are common Swedish ones; personnummer are made up but valid (real date,
correct Luhn digit), so they pass every check a real one would. Email addresses use the
example.com/.net/.org domains reserved by RFC 2606, so no demo mail can reach anyone.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FEMALE = _words(
    """
    Anna Eva Maria Karin Sara Kristina Lena Emma Kerstin Ingrid Marie Malin Jenny Linnéa
    Hanna Sofia Elin Ida Johanna Birgitta Elsa Maja Alice Wilma Ebba Astrid Agnes Freja
    Ellen Signe Klara Julia Alva Ester Moa Lovisa Saga Amira Leila Aino
    """
)
MALE = _words(
    """
    Lars Karl Anders Johan Per Erik Mikael Peter Jan Hans Thomas Daniel Fredrik Magnus
    Oskar Lucas William Liam Hugo Noah Elias Axel Olle Nils Gustav Viktor Filip Emil Anton
    Isak Ludvig Sven Björn Göran Stefan Mattias Henrik Jonas Simon Omar Ali Mehmet
    """
)
SURNAMES = _words(
    """
    Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson
    Gustafsson Pettersson Jonsson Jansson Hansson Bengtsson Jönsson Lindberg Jakobsson
    Magnusson Olofsson Lindström Lindqvist Lindgren Berg Axelsson Bergström Lundberg
    Lind Lundgren Lundqvist Mattsson Berglund Fredriksson Sandberg Henriksson Forsberg
    Sjöberg Wallin Engström Eklund Danielsson Lundin Håkansson Björk Bergman Gunnarsson
    Holm Wikström Samuelsson Isaksson Fransson Bergqvist Nyström Holmberg Arvidsson
    Löfgren Söderberg Nyberg Blomqvist Claesson Nordström Mårtensson Lundström Hassan
    Nguyen Kaya Yilmaz Novak Virtanen Korhonen Ahmed
    """
)
STREETS = _words(
    """
    Storgatan Drottninggatan Kungsgatan Skolgatan Kyrkogatan Parkvägen Björkvägen
    Ringvägen Industrigatan Sveavägen Götgatan Hornsgatan Tallvägen Ekvägen Lärkvägen
    Solvägen Järnvägsgatan Trädgårdsgatan Villagatan Åsgatan
    """
)
#: City and the first three digits of its postcodes.
CITIES = (
    ("Stockholm", 113),
    ("Stockholm", 118),
    ("Göteborg", 413),
    ("Malmö", 214),
    ("Uppsala", 753),
    ("Västerås", 722),
    ("Örebro", 702),
    ("Linköping", 582),
    ("Helsingborg", 252),
    ("Jönköping", 553),
    ("Norrköping", 602),
    ("Lund", 223),
    ("Umeå", 903),
    ("Gävle", 803),
    ("Borås", 503),
    ("Sundsvall", 852),
    ("Luleå", 972),
    ("Visby", 621),
)
DOMAINS = ("example.com", "example.net", "example.org")


def luhn_digit(nine: str) -> str:
    """The check digit that makes the 10-digit personnummer pass the Luhn test."""
    total = 0
    for index, char in enumerate(nine):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def make_personnummer(birth: date, serial: int, *, coordination: bool = False) -> str:
    """12 digits; ``serial`` is the three-digit birth number (odd for men, even for women)."""
    day = birth.day + (60 if coordination else 0)
    nine = f"{birth:%y%m}{day:02d}{serial:03d}"
    return f"{birth.year // 100}{nine}{luhn_digit(nine)}"


def ascii_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in ".-"))


@dataclass(frozen=True)
class Person:
    number: int
    first_name: str
    last_name: str
    female: bool
    birth_date: date
    #: 12 digits.
    personnummer: str
    email: str
    #: E.164.
    phone: str
    street: str
    postcode: str
    city: str
    #: First contact with the company, and the last sign of life.
    since: datetime
    last_active: datetime
    marketing: bool
    #: A documented demo subject: has at least one row in every table.
    known: bool = False

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def customer_number(self) -> str:
        return f"K-{self.number:06d}"

    @property
    def national_phone(self) -> str:
        """``070-174 06 05``, the way Swedish mobile numbers are usually written."""
        national = "0" + self.phone[3:]
        return f"{national[:3]}-{national[3:6]} {national[6:8]} {national[8:]}"

    @property
    def pnr_dashed(self) -> str:
        return f"{self.personnummer[:8]}-{self.personnummer[8:]}"


def _moment(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(rng.randint(7, 22), rng.randint(0, 59), rng.randint(0, 59)))


def _known_subjects(today: date) -> list[Person]:
    """The people README documents, the same in every demo system."""
    years = lambda n: today - timedelta(days=round(365.25 * n))  # noqa: E731

    def person(
        number: int,
        name: tuple[str, str, bool],
        birth: date,
        pnr: str,
        contact: tuple[str, str],
        address: tuple[str, str, str],
        since: float,
        active: float,
        marketing: bool,
    ) -> Person:
        return Person(
            number,
            *name,
            birth,
            pnr,
            *contact,
            *address,
            since=datetime.combine(years(since), time(10, 15)),
            last_active=datetime.combine(years(active), time(19, 40)),
            marketing=marketing,
            known=True,
        )

    return [
        # Customer for years with activity in every table; gets newsletters.
        person(
            1,
            ("Astrid", "Lindqvist", True),
            date(1964, 8, 23),
            "196408233234",
            ("astrid.lindqvist@example.com", "+46701740605"),
            ("Storgatan 12", "113 51", "Stockholm"),
            7.5,
            0.02,
            True,
        ),
        # Two different people the identities of one request may point at: the email
        # belongs to the first, the personnummer and phone to the second.
        person(
            2,
            ("Maria", "Andersson", True),
            date(1985, 3, 12),
            make_personnummer(date(1985, 3, 12), 42),
            ("maria.andersson@example.com", "+46701740611"),
            ("Parkvägen 3", "413 19", "Göteborg"),
            5.0,
            0.1,
            False,
        ),
        person(
            3,
            ("Maria", "Andersson", True),
            date(1970, 10, 3),
            "197010632391",
            ("m.andersson@example.net", "+46701740622"),
            ("Åsgatan 7", "702 11", "Örebro"),
            4.0,
            0.3,
            True,
        ),
        # Has not logged in for three years (Kliently deletes accounts after two).
        person(
            4,
            ("Gunnar", "Berg", False),
            date(1951, 1, 30),
            make_personnummer(date(1951, 1, 30), 17),
            ("gunnar.berg@example.org", "+46701740633"),
            ("Kyrkogatan 21", "223 50", "Lund"),
            6.5,
            3.0,
            False,
        ),
    ]


def population(count: int, rng: random.Random, today: date) -> list[Person]:
    """``count`` people: the known subjects first, then random ones."""
    people = _known_subjects(today)
    emails = {p.email for p in people}
    numbers = {p.personnummer for p in people}
    phones = {p.phone for p in people}
    while len(people) < count:
        female = rng.random() < 0.5
        first = rng.choice(FEMALE if female else MALE)
        last = rng.choice(SURNAMES)
        birth = today - timedelta(days=rng.randint(18 * 365, 85 * 365))
        serial = rng.randrange(0, 1000, 2) if female else rng.randrange(1, 1000, 2)
        pnr = make_personnummer(birth, serial or 2, coordination=rng.random() < 0.02)
        email = f"{ascii_fold(first)}.{ascii_fold(last)}@{rng.choice(DOMAINS)}"
        if email in emails:
            email = email.replace("@", f"{len(people)}@")
        phone = f"+467{rng.choice('0236')}{rng.randint(0, 9_999_999):07d}"
        if pnr in numbers or phone in phones:
            continue
        emails.add(email)
        numbers.add(pnr)
        phones.add(phone)
        city, prefix = rng.choice(CITIES)
        since_day = today - timedelta(days=rng.randint(30, 8 * 365))
        # Most customers are active; some went quiet years ago.
        if rng.random() < 0.15:
            last_day = since_day + timedelta(
                days=rng.randint(0, max(0, (today - since_day).days - 730))
            )
        else:
            last_day = today - timedelta(days=rng.randint(0, min(365, (today - since_day).days)))
        since = _moment(since_day, rng)
        people.append(
            Person(
                number=len(people) + 1,
                first_name=first,
                last_name=last,
                female=female,
                birth_date=birth,
                personnummer=pnr,
                email=email,
                phone=phone,
                street=f"{rng.choice(STREETS)} {rng.randint(1, 60)}",
                postcode=f"{prefix} {rng.randint(10, 99)}",
                city=city,
                since=since,
                last_active=max(since, _moment(last_day, rng)),
                marketing=rng.random() < 0.4,
            )
        )
    return people
