"""Swedish personnummer and samordningsnummer: parse, check and normalise (LEGAL.md E4).

Accepted forms: ``YYMMDD-NNNC``, ``YYMMDD+NNNC``, ``YYMMDDNNNC``, ``YYYYMMDD-NNNC`` and
``YYYYMMDDNNNC``. In the 10-digit form the century is implied by the separator: ``-`` (or
none) for someone younger than 100, ``+`` from the year of the 100th birthday. The check
digit is the Luhn digit (weights 2-1) over the 10-digit form; a samordningsnummer carries
the day of birth plus 60. Everything is normalised to 12 digits, ``YYYYMMDDNNNC``.

Pure functions, no Flask: the date of "today" is passed in where the century depends on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

# ASCII digits only: \d would also accept other scripts' digits.
_FORM = re.compile(
    r"(?P<century>\d{2})?(?P<yy>\d{2})(?P<mm>\d{2})(?P<dd>\d{2})"
    r"(?P<sep>[-+]?)(?P<serial>\d{3})(?P<check>\d)",
    re.ASCII,
)
#: Day numbers of a samordningsnummer: the real day plus 60.
COORDINATION_OFFSET = 60


class InvalidPersonnummer(ValueError):
    """Not a personnummer or samordningsnummer; ``reason`` says why, in English, for logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Personnummer:
    """A checked number. ``digits`` is the 12-digit normal form."""

    digits: str
    birth_date: date
    coordination: bool

    @property
    def masked(self) -> str:
        """What staff lists may show: ``19640823-****``."""
        return f"{self.digits[:8]}-****"

    @property
    def formatted(self) -> str:
        """The 12-digit form with a dash: ``19640823-3234``."""
        return f"{self.digits[:8]}-{self.digits[8:]}"

    def __str__(self) -> str:  # never print the full number by accident
        return self.masked

    def __repr__(self) -> str:
        return f"Personnummer({self.masked!r})"


def luhn_digit(nine_digits: str) -> int:
    """The Luhn check digit of nine digits, weights 2, 1, 2, ... from the left."""
    total = 0
    for index, char in enumerate(nine_digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def _real_day(dd: int) -> tuple[int, bool]:
    if dd > COORDINATION_OFFSET:
        return dd - COORDINATION_OFFSET, True
    return dd, False


def _date_or_none(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _implied_year(yy: int, plus: bool, today: date) -> int:
    """The full year of a 10-digit number.

    The sign changes from ``-`` to ``+`` on 1 January of the year someone turns 100, so a
    ``-`` number belongs to one of the last 100 years (this one included) and a ``+`` number
    to the century before.
    """
    year = today.year - (today.year - yy) % 100
    return year - 100 if plus else year


def parse(raw: str, today: date) -> Personnummer:
    """Check ``raw`` and return the number, or raise :class:`InvalidPersonnummer`."""
    text = (raw or "").strip()
    match = _FORM.fullmatch(text)
    if match is None:
        raise InvalidPersonnummer(
            "expected 10 or 12 digits, optionally with - or + before the last four"
        )
    century, sep = match["century"], match["sep"]
    yy, month, dd = int(match["yy"]), int(match["mm"]), int(match["dd"])
    day, coordination = _real_day(dd)
    if match["serial"] == "000":
        raise InvalidPersonnummer("the birth number 000 is never issued")
    year = int(century) * 100 + yy if century is not None else _implied_year(yy, sep == "+", today)
    birth = _date_or_none(year, month, day)
    if birth is None:
        raise InvalidPersonnummer("the date part is not a date")
    if birth > today:
        raise InvalidPersonnummer("the date part lies in the future")
    if century is not None and sep == "+" and today.year - year < 100:
        raise InvalidPersonnummer("+ is only used from the year someone turns 100")
    ten = f"{match['yy']}{match['mm']}{match['dd']}{match['serial']}"
    if luhn_digit(ten) != int(match["check"]):
        raise InvalidPersonnummer("the check digit does not match")
    digits = f"{year:04d}{match['mm']}{match['dd']}{match['serial']}{match['check']}"
    return Personnummer(digits=digits, birth_date=birth, coordination=coordination)


def is_valid(raw: str, today: date) -> bool:
    try:
        parse(raw, today)
    except InvalidPersonnummer:
        return False
    return True
