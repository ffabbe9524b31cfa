"""What the service knows about who the subject is, in the forms a database may hold it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dsr.sources.datamap import IdentityKind


class IdentityError(ValueError):
    """An identity value that cannot be right (a personnummer failing its check digit)."""


_PNR = re.compile(r"(\d{8})[-+]?(\d{4})")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def luhn_valid(digits: str) -> bool:
    """The Luhn check (weights 2-1 from the left) that personnummer use on their 10 digits."""
    total = 0
    for index, char in enumerate(digits):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def normalize_personnummer(raw: str) -> str:
    """12 digits (YYYYMMDDNNNC) from ``19640823-3234`` or ``196408233234``.

    The 10-digit form needs the century worked out (and the +/- sign) before it gets here.
    """
    match = _PNR.fullmatch(raw.strip().replace(" ", ""))
    if not match:
        raise IdentityError("a personnummer needs all 12 digits (YYYYMMDD-NNNN)")
    digits = match.group(1) + match.group(2)
    month, day = int(digits[4:6]), int(digits[6:8])
    # Samordningsnummer add 60 to the day.
    if not (1 <= month <= 12 and (1 <= day <= 31 or 61 <= day <= 91)):
        raise IdentityError("the date part of the personnummer is not a date")
    if not luhn_valid(digits[2:]):
        raise IdentityError("the personnummer's check digit is wrong")
    return digits


def normalize_phone(raw: str) -> str:
    """E.164 (``+46701740605``); national Swedish numbers get +46."""
    compact = re.sub(r"[\s\-().]", "", raw.strip())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    elif compact.startswith("0"):
        compact = "+46" + compact[1:]
    elif not compact.startswith("+"):
        compact = "+" + compact
    if not re.fullmatch(r"\+\d{7,15}", compact):
        raise IdentityError("not a phone number")
    return compact


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise IdentityError("not an email address")
    return email


@dataclass(frozen=True)
class Identities:
    """Identities of one subject, normalized; build with :meth:`of`."""

    email: str | None = None
    #: 12 digits.
    personnummer: str | None = None
    #: E.164.
    phone: str | None = None
    customer_id: str | None = None

    @classmethod
    def of(
        cls,
        *,
        email: str | None = None,
        personnummer: str | None = None,
        phone: str | None = None,
        customer_id: str | None = None,
    ) -> Identities:
        return cls(
            email=normalize_email(email) if email else None,
            personnummer=normalize_personnummer(personnummer) if personnummer else None,
            phone=normalize_phone(phone) if phone else None,
            customer_id=customer_id.strip() or None if customer_id else None,
        )

    def value(self, kind: IdentityKind) -> str | None:
        value: str | None = getattr(self, kind.value)
        return value

    def items(self) -> list[tuple[IdentityKind, str]]:
        return [(kind, v) for kind in IdentityKind if (v := self.value(kind)) is not None]

    def __bool__(self) -> bool:
        return bool(self.items())

    def masked(self) -> dict[str, str]:
        """For staff pages and logs: the personnummer without its last four digits."""
        shown = {kind.value: value for kind, value in self.items()}
        if self.personnummer:
            shown["personnummer"] = f"{self.personnummer[:8]}-****"
        return shown


def stored_forms(kind: IdentityKind, value: str) -> tuple[str, ...]:
    """The ways a database may have written a normalized value, to match without rewriting.

    Emails are compared lower-cased on both sides instead; customer ids as given.
    """
    if kind is IdentityKind.personnummer:
        short, tail = value[2:8], value[8:]
        return (
            value,
            f"{value[:8]}-{tail}",
            f"{short}-{tail}",
            f"{short}{tail}",
            f"{short}+{tail}",
        )
    if kind is IdentityKind.phone:
        forms = [value, "00" + value[1:], value[1:]]
        if value.startswith("+46"):
            national = "0" + value[3:]
            forms += [national, f"{national[:3]}-{national[3:]}"]
            if len(national) == 10:  # mobile numbers: 070-174 06 05
                a, b, c, d = national[:3], national[3:6], national[6:8], national[8:]
                forms += [f"{a}-{b} {c} {d}", f"{a} {b} {c} {d}", f"+46 {a[1:]} {b} {c} {d}"]
        return tuple(forms)
    return (value,)


def matches(kind: IdentityKind, value: str, stored: object) -> bool:
    """Whether a fetched column value is ``value``, by the same rule the query used."""
    if stored is None:
        return False
    if kind is IdentityKind.email:
        return str(stored).lower() == value
    if kind is IdentityKind.customer_id:
        return str(stored) == value
    return str(stored) in stored_forms(kind, value)
