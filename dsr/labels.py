"""Words people read for the service's enums: rights, states, channels, assurance levels.

Lazy strings, so each is translated in the language of the page or email that shows it.
"""

from __future__ import annotations

from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from dsr.models import AssuranceLevel, Channel, OutboxStatus, RequestStatus, Right, TaskKind

#: What each right is called, as a heading.
RIGHT_TITLES: dict[Right, LazyString] = {
    Right.access: _l("See the personal data we have about you"),
    Right.rectification: _l("Correct data about you"),
    Right.erasure: _l("Erase data about you"),
    Right.restriction: _l("Restrict how we use your data"),
    Right.portability: _l("Take your data with you"),
    Right.objection: _l("Object to how we use your data"),
    Right.consent_withdrawal: _l("Withdraw your consent"),
    Right.human_review: _l("Have a person review an automated decision"),
}

#: The right in a few words, for sentences such as "your request to ...".
RIGHT_NAMES: dict[Right, LazyString] = {
    Right.access: _l("access to your data"),
    Right.rectification: _l("rectification"),
    Right.erasure: _l("erasure"),
    Right.restriction: _l("restriction of processing"),
    Right.portability: _l("data portability"),
    Right.objection: _l("objection"),
    Right.consent_withdrawal: _l("withdrawal of consent"),
    Right.human_review: _l("human review of an automated decision"),
}

#: Plain-language explanations for the start page (with the article, for those who look).
RIGHT_SUMMARIES: dict[Right, LazyString] = {
    Right.access: _l(
        "Get a copy of the personal data we have about you, and learn why we use it, where it "
        "came from, who we share it with and how long we keep it. (GDPR article 15)"
    ),
    Right.rectification: _l(
        "If something we have about you is wrong or incomplete, tell us what and we will "
        "correct it. (Article 16)"
    ),
    Right.erasure: _l(
        "Ask us to delete data about you, for example when we no longer need it or you "
        "withdraw your consent. Some data the law makes us keep; we tell you what and why. "
        "(Article 17)"
    ),
    Right.restriction: _l(
        "Ask us to keep your data but stop using it for a while, for example while we check "
        "whether it is correct. (Article 18)"
    ),
    Right.portability: _l(
        "Get the data you have given us in a machine-readable file, or have us send it "
        "directly to another company. (Article 20)"
    ),
    Right.objection: _l(
        "Object to our use of your data based on our legitimate interest. If you object to "
        "direct marketing, we stop, always. (Article 21)"
    ),
    Right.consent_withdrawal: _l(
        "If we use your data because you agreed to it, you can take your consent back at any "
        "time. It is as easy as giving it. (Article 7)"
    ),
    Right.human_review: _l(
        "If a decision about you was made by a computer alone, ask for a person to look at "
        "it, tell us your view and contest the decision. (Article 22)"
    ),
}

#: Request states as the subject reads them.
STATUS_LABELS: dict[RequestStatus, LazyString] = {
    RequestStatus.unverified: _l("Waiting for you to confirm your email address"),
    RequestStatus.verified: _l("Received and confirmed; waiting to be handled"),
    RequestStatus.in_progress: _l("Being handled"),
    RequestStatus.awaiting_subject: _l("Waiting for information from you"),
    RequestStatus.completed: _l("Completed"),
    RequestStatus.refused: _l("Refused"),
    RequestStatus.withdrawn: _l("Withdrawn"),
    RequestStatus.expired: _l("Expired: the email address was never confirmed"),
    RequestStatus.closed: _l("Closed"),
}

CHANNEL_LABELS: dict[Channel, LazyString] = {
    Channel.web: _l("Web form"),
    Channel.api: _l("Another of our systems"),
    Channel.email: _l("Email"),
    Channel.letter: _l("Letter"),
    Channel.phone: _l("Phone"),
    Channel.in_person: _l("In person"),
}

ASSURANCE_LABELS: dict[AssuranceLevel, LazyString] = {
    AssuranceLevel.none: _l("Not verified"),
    AssuranceLevel.email_verified: _l("Email address confirmed"),
    AssuranceLevel.personnummer_matched: _l("Personnummer matched our records"),
    AssuranceLevel.eid_verified: _l("Identified with e-legitimation"),
    AssuranceLevel.staff_verified: _l("Identity checked by staff"),
}


# --- the staff's words ---------------------------------------------------------------------

#: The right's name in staff lists and emails.
RIGHT_SHORT: dict[Right, LazyString] = {
    Right.access: _l("Access"),
    Right.rectification: _l("Rectification"),
    Right.erasure: _l("Erasure"),
    Right.restriction: _l("Restriction"),
    Right.portability: _l("Portability"),
    Right.objection: _l("Objection"),
    Right.consent_withdrawal: _l("Consent withdrawal"),
    Right.human_review: _l("Human review"),
}

#: The right with its article, where staff decide under it (reminders, escalations).
RIGHT_WITH_ARTICLE: dict[Right, LazyString] = {
    Right.access: _l("Access (Art. 15)"),
    Right.rectification: _l("Rectification (Art. 16)"),
    Right.erasure: _l("Erasure (Art. 17)"),
    Right.restriction: _l("Restriction (Art. 18)"),
    Right.portability: _l("Portability (Art. 20)"),
    Right.objection: _l("Objection (Art. 21)"),
    Right.consent_withdrawal: _l("Consent withdrawal (Art. 7(3))"),
    Right.human_review: _l("Human review (Art. 22)"),
}

#: Request states as staff read them: short, for tables.
STAFF_STATUS_LABELS: dict[RequestStatus, LazyString] = {
    RequestStatus.unverified: _l("Unverified"),
    RequestStatus.verified: _l("Verified"),
    RequestStatus.in_progress: _l("In progress"),
    RequestStatus.awaiting_subject: _l("Awaiting subject"),
    RequestStatus.completed: _l("Completed"),
    RequestStatus.refused: _l("Refused"),
    RequestStatus.withdrawn: _l("Withdrawn"),
    RequestStatus.expired: _l("Expired"),
    RequestStatus.closed: _l("Closed"),
}

OUTBOX_STATUS_LABELS: dict[OutboxStatus, LazyString] = {
    OutboxStatus.pending: _l("Waiting"),
    OutboxStatus.sending: _l("Being sent"),
    OutboxStatus.sent: _l("Sent"),
    OutboxStatus.dead: _l("Given up"),
}

TASK_KIND_LABELS: dict[TaskKind, LazyString] = {
    TaskKind.locate: _l("Search by hand"),
    TaskKind.erase: _l("Erase by hand"),
    TaskKind.rectify: _l("Correct by hand"),
    TaskKind.restrict: _l("Restrict by hand"),
    TaskKind.notify: _l("Notify the recipient (Art. 19)"),
    TaskKind.review: _l("Human review (Art. 22)"),
    TaskKind.other: _l("Other"),
}

#: How the timeline names what happened; unknown actions show their code.
EVENT_LABELS: dict[str, LazyString] = {
    "request.created": _l("Request received"),
    "request.verified": _l("Email address confirmed"),
    "request.assigned": _l("Assigned"),
    "request.started": _l("Work started"),
    "request.extended": _l("Deadline extended"),
    "request.paused": _l("Information asked from the subject"),
    "request.resumed": _l("Clock restarted"),
    "request.message_sent": _l("Message to the subject"),
    "request.message_received": _l("Message from the subject"),
    "request.refused": _l("Refused"),
    "request.partially_refused": _l("Partly refused"),
    "request.completed": _l("Completed"),
    "request.withdrawn": _l("Withdrawn by the subject"),
    "request.closed_spam": _l("Closed as spam"),
    "request.closed_duplicate": _l("Closed as duplicate"),
    "request.expired": _l("Expired unverified"),
    "request.personnummer_shown": _l("Personnummer shown in full"),
    "identity.checked_by_staff": _l("Identity checked by staff"),
    "identity.personnummer_matched": _l("Personnummer matched our records"),
    "identity.personnummer_not_matched": _l("Personnummer not matched"),
    "identity.eid_verified": _l("Identified with e-legitimation"),
    "identity.eid_mismatch": _l("e-legitimation proved another personnummer"),
    "identity.eid_number_adopted": _l("Personnummer proven by e-legitimation used"),
    "identity.eid_number_discarded": _l("Personnummer proven by e-legitimation deleted"),
    "eid.started": _l("e-legitimation started"),
    "eid.failed": _l("e-legitimation failed"),
    "task.completed": _l("Manual task finished"),
    # Executing the rights (dsr.rights).
    "plan.created": _l("Plan made"),
    "plan.approved": _l("Plan approved"),
    "plan.cancelled": _l("Plan cancelled"),
    "plan.started": _l("Plan started"),
    "plan.resumed": _l("Plan resumed"),
    "plan.failed": _l("Plan stopped on an error"),
    "plan.held": _l("Plan not run by the scheduler"),
    "plan.executed": _l("Plan executed"),
    "plan.purposes_chosen": _l("Purposes chosen"),
    "tasks.created": _l("Manual tasks created"),
    "access.redacted": _l("Redacted from the answer"),
    "access.redaction_removed": _l("Redaction removed"),
    "access.disclosed": _l("Answer content produced"),
    "portability.prepared": _l("Portable data prepared"),
    "portability.transmitted": _l("Data sent to the other controller"),
    "portability.transmission_failed": _l("Sending to the other controller failed"),
    "portability.offered_as_download": _l("Data offered as a download instead"),
    "rectification.correction_added": _l("Correction added"),
    "rectification.decided": _l("Correction decided"),
    "rectification.statement_recorded": _l("Supplementary statement recorded"),
    "rectification.applied": _l("Corrections applied"),
    "erasure.table_kept": _l("Table kept out of the erasure"),
    "erasure.table_included": _l("Table included in the erasure"),
    "erasure.batch": _l("Records erased"),
    "erasure.kept": _l("Records kept under a legal obligation"),
    "erasure.followup": _l("Kept records erased after their period"),
    "erasure.followup_failed": _l("Erasing kept records failed"),
    "restriction.scope_set": _l("Restriction scope chosen"),
    "restriction.applied": _l("Processing restricted"),
    "restriction.marked": _l("Records marked as restricted"),
    "restriction.lift_notice": _l("Subject told the restriction will be lifted"),
    "restriction.lifted": _l("Restriction lifted"),
    "marketing.stopped": _l("Direct marketing stopped"),
    "marketing.cleared": _l("Marketing consents cleared"),
    "suppression.added": _l("Added to the suppression list"),
    "suppression.exported": _l("Suppression list exported"),
    "objection.decided": _l("Objection decided"),
    "consent.erasure_declined": _l("Erasure offer declined"),
    "consent.withdrawn": _l("Consent withdrawn"),
    "consent.erased": _l("Records erased after the consent was withdrawn"),
    "review.decision_chosen": _l("Decision to review chosen"),
    "review.requested": _l("Review given to a person"),
    "review.concluded": _l("Review concluded"),
    "art19.notified": _l("Recipient notified (Art. 19)"),
    # The answer (dsr.exports).
    "export.prepared": _l("Answer requested"),
    "export.built": _l("Answer made"),
    "export.failed": _l("Making the answer failed"),
    "export.previewed": _l("Answer previewed by staff"),
    "export.released": _l("Answer released to the subject"),
    "export.replaced": _l("Earlier answer replaced and deleted"),
    "export.code_sent": _l("Download code sent"),
    "export.downloaded": _l("Answer downloaded by the subject"),
    "export.expired": _l("Answer expired and deleted"),
}

_KINDS: dict[str, dict[Any, LazyString]] = {
    "right": RIGHT_SHORT,
    "right_article": RIGHT_WITH_ARTICLE,
    "status": STAFF_STATUS_LABELS,
    "subject_status": STATUS_LABELS,
    "channel": CHANNEL_LABELS,
    "assurance": ASSURANCE_LABELS,
    "outbox": OUTBOX_STATUS_LABELS,
    "task": TASK_KIND_LABELS,
    "event": EVENT_LABELS,
}


def label(kind: str, value: Any) -> str:
    """The word for ``value`` (an enum member, its value, or an event code) of ``kind``."""
    table = _KINDS[kind]
    key: Any = value
    if kind != "event":
        enum_type = type(next(iter(table)))
        try:
            key = enum_type(getattr(value, "value", value))
        except ValueError:
            return str(value)
    found = table.get(key)
    return str(found) if found is not None else str(getattr(value, "value", value))
