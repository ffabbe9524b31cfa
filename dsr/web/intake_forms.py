"""Forms for filing a request: one per right, for the public pages and for staff.

The forms only render fields and carry the CSRF token; judging the values is the intake
service's job (``dsr.intake.check_submission``), whose field errors are put back onto the
form by :func:`show_errors`. Field names are the keys of ``Request.details``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
    URLField,
)

from dsr import identity
from dsr.identity import CodeCheck
from dsr.models import AssuranceLevel, Channel, Right, VerificationToken
from dsr.request_details import FIELDS
from dsr.validation import Message


class Marked:
    """Marks a field as required in the page (``*`` and ``required``) without judging it:
    the intake service does that, once, for every way in."""

    field_flags = {"required": True}

    def __call__(self, form: Any, field: Any) -> None:
        return None


REQUIRED = [Marked()]


def typed_line_breaks(value: Any) -> Any:
    """Browsers send a line break typed in a text area as ``\\r\\n``; make it the one
    character it was, so that length limits count what the person typed."""
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


TEXT_FILTERS = [typed_line_breaks]

#: Labels and hints of the per-right fields, by (right, key).
_TEXTS: dict[tuple[Right, str], tuple[LazyString, LazyString | None]] = {
    (Right.rectification, "data_to_correct"): (
        _l("What is wrong or missing?"),
        _l("Say which data it is, for example your address or how your name is spelt."),
    ),
    (Right.rectification, "correct_values"): (_l("What should it say instead?"), None),
    (Right.erasure, "scope"): (_l("What should we erase?"), None),
    (Right.erasure, "data_to_erase"): (
        _l("Which data should we erase?"),
        _l("Only needed if you chose some of the data."),
    ),
    (Right.restriction, "grounds"): (_l("Why should we restrict the use of your data?"), None),
    (Right.restriction, "data_to_restrict"): (
        _l("Which data? (optional)"),
        _l("Leave it empty if it concerns all data about you."),
    ),
    (Right.portability, "delivery"): (_l("How do you want your data?"), None),
    (Right.portability, "recipient_url"): (
        _l("The other company's address for receiving data"),
        _l("Starts with https://. Only needed if we should send the data to another company."),
    ),
    (Right.objection, "objection_to"): (_l("What do you object to?"), None),
    (Right.objection, "processing"): (
        _l("Which use of your data do you object to?"),
        _l("Only needed if you chose another use than direct marketing."),
    ),
    (Right.objection, "grounds"): (
        _l("Why? Tell us about your situation (optional)"),
        _l("Not needed for direct marketing: we stop whatever the reason."),
    ),
    (Right.consent_withdrawal, "consent"): (
        _l("Which consent do you withdraw?"),
        _l("For example newsletters, or the use of your location in the app."),
    ),
    (Right.human_review, "decision"): (
        _l("Which decision should a person review?"),
        _l("What was decided, and when."),
    ),
    (Right.human_review, "viewpoint"): (
        _l("Your view (optional)"),
        _l("Why you think the decision is wrong, and anything the person reviewing should know."),
    ),
}

_CHOICES: dict[tuple[Right, str], list[tuple[str, LazyString]]] = {
    (Right.erasure, "scope"): [
        ("everything", _l("Everything you have about me")),
        ("specific", _l("Only some of the data (describe it below)")),
    ],
    (Right.restriction, "grounds"): [
        (
            "accuracy_contested",
            _l("I think the data is wrong: stop using it while you check it"),
        ),
        (
            "unlawful_processing",
            _l("You should not be using the data, but I want it kept rather than erased"),
        ),
        (
            "legal_claims",
            _l("You no longer need the data, but I need it kept for a legal claim"),
        ),
        (
            "objection_pending",
            _l("I have objected: stop using the data while you consider my objection"),
        ),
    ],
    (Right.portability, "delivery"): [
        ("download", _l("Let me download it from my request's page")),
        ("controller", _l("Send it directly to another company")),
    ],
    (Right.objection, "objection_to"): [
        ("direct_marketing", _l("Direct marketing (advertising sent to me)")),
        ("other_processing", _l("Another use of my data (describe it below)")),
    ],
}

MESSAGE_LABEL = _l("Anything else we should know? (optional)")


def details_for_display(right: Right | str, details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) for what the subject asked, as staff read it: choices in words, empty
    fields and the version marker left out. Keys of an unknown shape are shown as they are."""
    right = Right(right)
    labels = {name: str(texts[0]) for (r, name), texts in _TEXTS.items() if r == right}
    labels["message"] = str(MESSAGE_LABEL)
    choices = {
        (name, value): str(label)
        for (r, name), pairs in _CHOICES.items()
        if r == right
        for value, label in pairs
    }
    shown = []
    for key, value in details.items():
        if key == "version" or value is None or value == "":
            continue
        label = labels.get(key, key.replace("_", " ").capitalize())
        word = choices.get((key, value)) if isinstance(value, str) else None
        shown.append((label, word or str(value)))
    return shown


def options(pairs: Any) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def hint(right: Right, name: str) -> LazyString | None:
    return _TEXTS.get((right, name), (None, None))[1]


def _right_fields(right: Right) -> dict[str, Field]:
    fields: dict[str, Any] = {}
    for spec in FIELDS[right]:
        label = _TEXTS[(right, spec.name)][0]
        validators = REQUIRED if spec.required else []
        if spec.kind == "choice":
            fields[spec.name] = RadioField(
                label,
                choices=options(_CHOICES[(right, spec.name)]),
                validate_choice=False,
                validators=validators,
            )
        elif spec.kind == "https_url":
            fields[spec.name] = URLField(label, validators=validators)
        else:
            fields[spec.name] = TextAreaField(label, validators=validators, filters=TEXT_FILTERS)
    fields["message"] = TextAreaField(MESSAGE_LABEL, filters=TEXT_FILTERS)
    return fields


class PublicIntakeForm(FlaskForm):
    name = StringField(_l("Your name"), validators=REQUIRED)
    email = EmailField(_l("Your email address"), validators=REQUIRED)
    personnummer = StringField(_l("Personnummer or samordningsnummer (optional)"))
    phone = TelField(_l("Phone number (optional)"))
    #: Hidden from people (CSS and aria-hidden); bots that fill every field reveal themselves.
    website = StringField(_l("Leave this field empty"))


@cache
def public_form(right: Right) -> type[PublicIntakeForm]:
    return type(f"Public{right.value.title()}Form", (PublicIntakeForm,), _right_fields(right))


STAFF_CHANNELS = [
    (Channel.letter.value, _l("Letter")),
    (Channel.phone.value, _l("Phone")),
    (Channel.email.value, _l("Email")),
    (Channel.in_person.value, _l("In person")),
]

STAFF_ASSURANCE = [
    (AssuranceLevel.none.value, _l("Not verified: ask the person to confirm their email")),
    (AssuranceLevel.email_verified.value, _l("The email address is known to be theirs")),
    (AssuranceLevel.staff_verified.value, _l("I checked the person's identity")),
]

#: The same words as the identity check on the staff request page.
STAFF_CHECK_LABELS: dict[str, LazyString] = {
    "account_login": _l("Logged in to their customer account"),
    "bankid": _l("BankID or other e-identification"),
    "id_document_seen": _l("ID document seen (not copied)"),
    "known_contact": _l("Known contact details confirmed"),
    "other": _l("Other"),
}
assert set(STAFF_CHECK_LABELS) == set(identity.STAFF_CHECK_METHODS)


class StaffIntakeForm(FlaskForm):
    channel = RadioField(
        _l("How did the request reach us?"),
        choices=options(STAFF_CHANNELS),
        validate_choice=False,
        validators=REQUIRED,
    )
    received_at = StringField(_l("Received (date and time)"), validators=REQUIRED)
    language = RadioField(
        _l("Language for emails to the person"),
        choices=options([("sv", "Svenska"), ("en", "English")]),
        default="sv",
        validate_choice=False,
    )
    name = StringField(_l("Name"), validators=REQUIRED)
    email = EmailField(_l("Email address (if known)"))
    personnummer = StringField(_l("Personnummer or samordningsnummer (optional)"))
    phone = TelField(_l("Phone number (optional)"))
    assurance = RadioField(
        _l("Identity"),
        choices=options(STAFF_ASSURANCE),
        default=AssuranceLevel.none.value,
        validate_choice=False,
    )
    assurance_method = SelectField(
        _l("How was it checked?"),
        choices=options([("", "—"), *STAFF_CHECK_LABELS.items()]),
        validate_choice=False,
    )
    assurance_note = StringField(_l("Note on the check"))
    acknowledge = BooleanField(_l("Send the acknowledgement email"), default=True)


@cache
def staff_form(right: Right) -> type[StaffIntakeForm]:
    return type(f"Staff{right.value.title()}Form", (StaffIntakeForm,), _right_fields(right))


def show_errors(form: FlaskForm, errors: Mapping[str, Message]) -> None:
    """Put the service's errors (``subject.email``, ``details.scope``) on the form's fields."""
    for key, message in errors.items():
        name = key.rpartition(".")[2]
        field = form._fields.get(name)
        if field is None:  # not a field of this form: show it on the first field
            field = next(iter(f for n, f in form._fields.items() if n != "csrf_token"))
        field.errors = [*field.errors, message]


class CodeForm(FlaskForm):
    code = StringField(
        _l("Code from the email"),
        validators=REQUIRED,
        render_kw={
            "class": "code-input",
            "inputmode": "numeric",
            "autocomplete": "one-time-code",
            "maxlength": 12,
        },
    )


def code_error(result: CodeCheck, row: VerificationToken | None) -> Message:
    """What to say about a code that was not accepted."""
    if result == CodeCheck.exhausted:
        return _l("Too many wrong codes: this code no longer works. Ask for a new code below.")
    if result == CodeCheck.expired:
        return _l("The code has expired or a newer one has been sent. Ask for a new code below.")
    if row is None:
        return _l("That code is not right.")
    left = max(0, identity.max_code_attempts() - row.attempts)
    return _l("That code is not right. Tries left: %(left)d.", left=left)
