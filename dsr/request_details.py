"""What the subject asked for, per right: the shape of ``Request.details`` and its checks.

``Request.details`` is a JSON object. Every request's object has ``"version": 1`` and
``"message"`` (free text or null); then the keys of its right, **always all of them**, null
when not given. Code reading it may therefore index it directly.

========================  ==================================================================
right                     keys (type; null unless said otherwise)
========================  ==================================================================
access                    (none beyond version and message)
rectification             ``data_to_correct`` (text, required): what is wrong;
                          ``correct_values`` (text, required): what it should say
erasure                   ``scope`` (required): ``"everything"`` or ``"specific"``;
                          ``data_to_erase`` (text): set exactly when scope is ``specific``
restriction               ``grounds`` (required), Art. 18(1): ``"accuracy_contested"`` (a),
                          ``"unlawful_processing"`` (b), ``"legal_claims"`` (c),
                          ``"objection_pending"`` (d);
                          ``data_to_restrict`` (text): null means all of it
portability               ``delivery`` (required): ``"download"`` or ``"controller"``;
                          ``recipient_url`` (https URL): set exactly when delivery is
                          ``controller``, the other controller's address
objection                 ``objection_to`` (required): ``"direct_marketing"`` (Art. 21(2),
                          always honoured) or ``"other_processing"`` (Art. 21(1));
                          ``processing`` (text): set exactly when objection_to is
                          ``other_processing``, the processing objected to;
                          ``grounds`` (text): the subject's particular situation
consent_withdrawal        ``consent`` (text, required): the consent taken back
human_review              ``decision`` (text, required): the automated decision, Art. 22;
                          ``viewpoint`` (text): the subject's view and why they contest it
========================  ==================================================================

Texts are trimmed, NFC-normalised, with ``\\n`` line breaks and no control characters.
A later version of the shape bumps ``version``; readers should check it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from dsr import validation
from dsr.models import Right
from dsr.validation import FieldError, InvalidInput, Message

VERSION = 1
TEXT_MAX = 2000
MESSAGE_MAX = 5000


@dataclass(frozen=True)
class DetailField:
    """One key of a right's details."""

    name: str
    #: ``text`` (several lines), ``choice`` or ``https_url``.
    kind: str
    required: bool = False
    choices: tuple[str, ...] = ()
    max_length: int = TEXT_MAX
    #: (other key, its values): the field is required, and kept, only in that case.
    only_when: tuple[str, tuple[str, ...]] | None = None


ERASURE_SCOPES = ("everything", "specific")
RESTRICTION_GROUNDS = (
    "accuracy_contested",
    "unlawful_processing",
    "legal_claims",
    "objection_pending",
)
PORTABILITY_DELIVERIES = ("download", "controller")
OBJECTION_TARGETS = ("direct_marketing", "other_processing")

MESSAGE = DetailField("message", "text", max_length=MESSAGE_MAX)

FIELDS: dict[Right, tuple[DetailField, ...]] = {
    Right.access: (),
    Right.rectification: (
        DetailField("data_to_correct", "text", required=True),
        DetailField("correct_values", "text", required=True),
    ),
    Right.erasure: (
        DetailField("scope", "choice", required=True, choices=ERASURE_SCOPES),
        DetailField("data_to_erase", "text", only_when=("scope", ("specific",))),
    ),
    Right.restriction: (
        DetailField("grounds", "choice", required=True, choices=RESTRICTION_GROUNDS),
        DetailField("data_to_restrict", "text"),
    ),
    Right.portability: (
        DetailField("delivery", "choice", required=True, choices=PORTABILITY_DELIVERIES),
        DetailField(
            "recipient_url", "https_url", max_length=500, only_when=("delivery", ("controller",))
        ),
    ),
    Right.objection: (
        DetailField("objection_to", "choice", required=True, choices=OBJECTION_TARGETS),
        DetailField("processing", "text", only_when=("objection_to", ("other_processing",))),
        DetailField("grounds", "text"),
    ),
    Right.consent_withdrawal: (DetailField("consent", "text", required=True, max_length=1000),),
    Right.human_review: (
        DetailField("decision", "text", required=True),
        DetailField("viewpoint", "text"),
    ),
}


def fields_for(right: Right) -> tuple[DetailField, ...]:
    """The right's own keys followed by ``message``."""
    return (*FIELDS[right], MESSAGE)


def _clean(field: DetailField, value: Any, required: bool) -> Any:
    if field.kind == "choice":
        return validation.clean_choice(value, field.choices, required=required)
    if field.kind == "https_url":
        return validation.clean_https_url(value, required=required)
    return validation.clean_text(value, max_length=field.max_length, required=required)


def clean_details(right: Right, raw: object, *, prefix: str = "details.") -> dict[str, Any]:
    """The details object for ``right`` from what was sent, or :class:`InvalidInput`.

    Error keys are ``prefix`` + the field name. Keys the right does not know are refused
    rather than dropped, so that a caller's misspelling does not silently lose what the
    subject said.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InvalidInput({prefix.rstrip("."): _l("Send an object with the request's details.")})
    fields = fields_for(right)
    known = {f.name for f in fields}
    errors: dict[str, Message] = {
        f"{prefix}{key}": _l("This right has no such field.")
        for key in raw
        if key not in known and key != "version"
    }
    version = raw.get("version", VERSION)
    if type(version) is not int or version != VERSION:
        errors[f"{prefix}version"] = _l("Only version 1 is understood.")
    cleaned: dict[str, Any] = {"version": VERSION}
    # Choices first: conditional fields depend on them.
    for field in sorted(fields, key=lambda f: f.kind != "choice"):
        applies = field.only_when is None or cleaned.get(field.only_when[0]) in field.only_when[1]
        required = field.required or (field.only_when is not None and applies)
        try:
            value = _clean(field, raw.get(field.name), required)
        except FieldError as exc:
            errors[f"{prefix}{field.name}"] = exc.message
            value = None
        # A conditional field is checked whatever was chosen, but kept only when it applies.
        cleaned[field.name] = value if applies else None
    if errors:
        raise InvalidInput(errors)
    return {"version": VERSION, **{f.name: cleaned[f.name] for f in fields}}
