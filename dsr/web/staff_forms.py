"""Forms for the actions on a request. Each is a POST with Flask-WTF's CSRF token."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from dsr.models import PauseReason, RefusalGrounds, RefusalScope, TaskStatus

TEXT_LIMIT = 5000


class EmailDraftMixin:
    """The email an action sends, shown for review and editing before it goes out."""

    email_subject = StringField(_l("Email subject"), validators=[Optional(), Length(max=255)])
    email_text = TextAreaField(_l("Email text"), validators=[Optional(), Length(max=20000)])
    step = HiddenField(default="draft")


class AssignForm(FlaskForm):
    assignee = SelectField(_l("Assign to"), coerce=str, validators=[Optional()])


class ExtendForm(EmailDraftMixin, FlaskForm):
    reason = TextAreaField(
        _l("Why more time is needed (sent to the subject)"),
        validators=[DataRequired(), Length(max=TEXT_LIMIT)],
    )


class AskForm(EmailDraftMixin, FlaskForm):
    reason = RadioField(
        _l("What is missing"),
        choices=[
            SelectChoice(PauseReason.identity.value, _l("Proof of identity (reasonable doubt)")),
            SelectChoice(
                PauseReason.clarification.value, _l("Clarification of what the request covers")
            ),
        ],
        default=PauseReason.clarification.value,
        validators=[DataRequired()],
    )
    question = TextAreaField(
        _l("Your question to the subject"), validators=[DataRequired(), Length(max=TEXT_LIMIT)]
    )


class ResumeForm(FlaskForm):
    note = TextAreaField(_l("Note (optional)"), validators=[Optional(), Length(max=TEXT_LIMIT)])


class RefuseForm(EmailDraftMixin, FlaskForm):
    scope = RadioField(
        _l("Refuse"),
        choices=[
            SelectChoice(RefusalScope.full.value, _l("The whole request")),
            SelectChoice(RefusalScope.partial.value, _l("Part of the request")),
        ],
        default=RefusalScope.full.value,
        validators=[DataRequired()],
    )
    grounds = SelectField(
        _l("Grounds"),
        choices=[
            SelectChoice(
                RefusalGrounds.exemption.value, _l("An exemption applies (e.g. Art. 15(4), 17(3))")
            ),
            SelectChoice(
                RefusalGrounds.unidentifiable.value,
                _l("The subject cannot be identified (Art. 11(2))"),
            ),
            SelectChoice(
                RefusalGrounds.manifestly_unfounded.value, _l("Manifestly unfounded (Art. 12(5))")
            ),
            SelectChoice(
                RefusalGrounds.excessive.value, _l("Excessive, e.g. repetitive (Art. 12(5))")
            ),
            SelectChoice(RefusalGrounds.other.value, _l("Other")),
        ],
        validators=[DataRequired()],
    )
    reason = TextAreaField(
        _l("Reasons (sent to the subject)"), validators=[DataRequired(), Length(max=TEXT_LIMIT)]
    )
    justification = TextAreaField(
        _l("Documented justification (kept on file; required for unfounded or excessive)"),
        validators=[Optional(), Length(max=TEXT_LIMIT)],
    )


class MessageForm(EmailDraftMixin, FlaskForm):
    body = TextAreaField(
        _l("Message to the subject"), validators=[DataRequired(), Length(max=TEXT_LIMIT)]
    )


class CompleteForm(EmailDraftMixin, FlaskForm):
    summary = TextAreaField(
        _l("What was done (sent to the subject)"), validators=[Optional(), Length(max=TEXT_LIMIT)]
    )


class WithdrawForm(FlaskForm):
    note = TextAreaField(
        _l("How and when the subject withdrew"), validators=[DataRequired(), Length(max=TEXT_LIMIT)]
    )


class CloseForm(FlaskForm):
    reason = RadioField(
        _l("Close as"),
        choices=[SelectChoice("spam", _l("Spam")), SelectChoice("duplicate", _l("Duplicate"))],
        validators=[DataRequired()],
    )
    note = TextAreaField(_l("Why"), validators=[DataRequired(), Length(max=TEXT_LIMIT)])


class IdentityCheckForm(FlaskForm):
    method = SelectField(
        _l("How the identity was checked"),
        choices=[
            SelectChoice("account_login", _l("Logged in to their customer account")),
            SelectChoice("bankid", _l("BankID or other e-identification")),
            SelectChoice("id_document_seen", _l("ID document seen (not copied)")),
            SelectChoice("known_contact", _l("Known contact details confirmed")),
            SelectChoice("other", _l("Other")),
        ],
        validators=[DataRequired()],
    )
    note = TextAreaField(
        _l("Note (never store an ID image or number here)"),
        validators=[DataRequired(), Length(max=TEXT_LIMIT)],
    )


class TaskForm(FlaskForm):
    status = RadioField(
        _l("Outcome"),
        choices=[
            SelectChoice(TaskStatus.done.value, _l("Done")),
            SelectChoice(TaskStatus.not_applicable.value, _l("Does not apply")),
        ],
        default=TaskStatus.done.value,
        validators=[DataRequired()],
    )
    note = TextAreaField(_l("What was done"), validators=[DataRequired(), Length(max=TEXT_LIMIT)])
