"""Checking what people type: lengths, invisible characters, email addresses, phone numbers.

Every check returns the cleaned value or raises :class:`FieldError` with a message fit to
show next to the field (a lazy string, translated when shown). The web forms, the API and
staff intake all go through these, so a value is judged the same way whichever way it came.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import TypeAlias
from urllib.parse import urlsplit

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

Message: TypeAlias = LazyString | str

#: Characters that change how text is displayed without being visible: right-to-left
#: overrides and isolates can make a name or address read differently from what it is.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_PHONE = re.compile(r"\+?[0-9 ()\-]+")


class FieldError(ValueError):
    """One field's value is not acceptable; ``message`` says why."""

    def __init__(self, message: Message) -> None:
        super().__init__(str(message))
        self.message = message


class InvalidInput(Exception):
    """Several fields at once: ``errors`` maps a field path (``subject.email``) to a message."""

    def __init__(self, errors: Mapping[str, Message]) -> None:
        super().__init__(", ".join(errors))
        self.errors = dict(errors)


def _refuse_hidden_characters(value: str, *, multiline: bool) -> None:
    allowed = {"\n", "\t"} if multiline else set()
    for char in value:
        category = unicodedata.category(char)
        if (category == "Cc" and char not in allowed) or category == "Cs":
            raise FieldError(_l("Remove the control characters (invisible characters)."))
        if char in _BIDI_CONTROLS:
            raise FieldError(_l("Remove the characters that change the writing direction."))


def clean_line(value: object, *, max_length: int, required: bool = False) -> str | None:
    """One line of text (a name, a title): trimmed, NFC-normalised, no control characters.

    Lengths count the text as sent (spaces around it included), so that a limit means the
    same to every sender whatever is trimmed afterwards.
    """
    text = _as_text(value)
    _check_length(text, max_length)
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        if required:
            raise FieldError(_l("This field is required."))
        return None
    _refuse_hidden_characters(text, multiline=False)
    _check_length(text, max_length)
    return text


def clean_text(value: object, *, max_length: int, required: bool = False) -> str | None:
    """Free text over several lines: line breaks normalised to ``\\n``, otherwise as typed.

    The length counts what was sent; forms turn a browser's ``\\r\\n`` back into the one
    character it was typed as before it gets here (``dsr.web.intake_forms``).
    """
    text = _as_text(value)
    _check_length(text, max_length)
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        if required:
            raise FieldError(_l("This field is required."))
        return None
    _refuse_hidden_characters(text, multiline=True)
    _check_length(text, max_length)
    return text


def clean_choice(value: object, choices: tuple[str, ...], *, required: bool = True) -> str | None:
    text = _as_text(value).strip()
    if not text:
        if required:
            raise FieldError(_l("Choose one of the options."))
        return None
    if text not in choices:
        raise FieldError(_l("Choose one of the options."))
    return text


def clean_email(value: object, *, required: bool = True) -> str | None:
    """A deliverable-looking address, lower-cased; an international domain becomes IDNA."""
    text = _as_text(value)
    if len(text) > 254:
        raise FieldError(_l("An email address has at most 254 characters."))
    text = text.strip()
    if not text:
        if required:
            raise FieldError(_l("Enter your email address."))
        return None
    _refuse_hidden_characters(text, multiline=False)
    if len(text) > 254:
        raise FieldError(_l("An email address has at most 254 characters."))
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or len(local) > 64 or not _EMAIL_LOCAL.fullmatch(local):
        raise FieldError(_l("Enter an email address like name@example.se."))
    try:
        ascii_domain = domain.lower().encode("idna").decode("ascii")
    except UnicodeError:
        raise FieldError(_l("Enter an email address like name@example.se.")) from None
    labels = ascii_domain.split(".")
    if (
        len(labels) < 2
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        or not (labels[-1].isalpha() or labels[-1].startswith("xn--"))
    ):
        raise FieldError(_l("Enter an email address like name@example.se."))
    address = f"{local}@{ascii_domain}".lower()
    if len(address) > 254:
        raise FieldError(_l("An email address has at most 254 characters."))
    return address


def clean_phone(value: object) -> str | None:
    """Digits with the usual separators; 6 to 20 digits."""
    text = _as_text(value)
    if len(text) > 40:
        raise FieldError(_l("Enter a phone number with digits, e.g. 070-123 45 67."))
    text = text.strip()
    if not text:
        return None
    _refuse_hidden_characters(text, multiline=False)
    text = " ".join(text.split())
    digits = sum(c.isdigit() for c in text)
    if len(text) > 40 or not _PHONE.fullmatch(text) or not 6 <= digits <= 20:
        raise FieldError(_l("Enter a phone number with digits, e.g. 070-123 45 67."))
    return text


def clean_https_url(value: object, *, required: bool = True) -> str | None:
    """An ``https://`` address with a host name and no password in it."""
    text = _as_text(value)
    if len(text) > 500:
        raise FieldError(_l("Use at most %(count)d characters.", count=500))
    text = text.strip()
    if not text:
        if required:
            raise FieldError(_l("Enter the address the data should be sent to."))
        return None
    _refuse_hidden_characters(text, multiline=False)
    if any(c.isspace() for c in text):
        raise FieldError(_l("Enter an address starting with https://, without spaces."))
    try:
        parts = urlsplit(text)
        hostname = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise FieldError(_l("Enter an address starting with https://, without spaces.")) from None
    if parts.scheme.lower() != "https" or "." not in hostname or "@" in parts.netloc:
        raise FieldError(_l("Enter an address starting with https://, without spaces."))
    return text


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FieldError(_l("Enter text."))
    return value


def _check_length(text: str, max_length: int) -> None:
    if len(text) > max_length:
        raise FieldError(
            _l(
                "Use at most %(count)d characters (you used %(used)d).",
                count=max_length,
                used=len(text),
            )
        )
