"""Words for rights and states in the scheduler's emails, translated when rendered."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from dsr.models import RequestStatus, Right

RIGHT_LABELS = {
    Right.access: _l("Access (Art. 15)"),
    Right.rectification: _l("Rectification (Art. 16)"),
    Right.erasure: _l("Erasure (Art. 17)"),
    Right.restriction: _l("Restriction (Art. 18)"),
    Right.portability: _l("Portability (Art. 20)"),
    Right.objection: _l("Objection (Art. 21)"),
    Right.consent_withdrawal: _l("Consent withdrawal (Art. 7(3))"),
    Right.human_review: _l("Human review (Art. 22)"),
}

STATUS_LABELS = {
    RequestStatus.unverified: _l("Not yet verified"),
    RequestStatus.verified: _l("Verified"),
    RequestStatus.in_progress: _l("In progress"),
    RequestStatus.awaiting_subject: _l("Waiting for the subject"),
    RequestStatus.completed: _l("Completed"),
    RequestStatus.refused: _l("Refused"),
    RequestStatus.withdrawn: _l("Withdrawn"),
    RequestStatus.expired: _l("Expired"),
    RequestStatus.closed: _l("Closed"),
}
