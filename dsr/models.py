"""Tables and enums of the service's own database.

Conventions: every timestamp is an aware UTC datetime named ``*_at`` (``UTCDateTime``);
calendar dates that the law speaks of (due dates) are plain ``date`` values in the
controller's time zone, named ``due_*``; states are string enums stored as text with a CHECK
constraint, so that adding a state is a migration rather than a surprise.
"""

# SQLModel reads the annotations at class creation: no `from __future__ import annotations`.

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, Relationship, SQLModel

from dsr.db import UTCDateTime, utcnow
from dsr.deadlines import Regime

JSONType = JSON().with_variant(JSONB(), "postgresql")


class Right(enum.StrEnum):
    access = "access"  # Art. 15
    rectification = "rectification"  # Art. 16
    erasure = "erasure"  # Art. 17
    restriction = "restriction"  # Art. 18
    portability = "portability"  # Art. 20
    objection = "objection"  # Art. 21
    consent_withdrawal = "consent_withdrawal"  # Art. 7(3)
    human_review = "human_review"  # Art. 22(3)


class RequestStatus(enum.StrEnum):
    unverified = "unverified"
    verified = "verified"
    in_progress = "in_progress"
    awaiting_subject = "awaiting_subject"
    completed = "completed"
    refused = "refused"
    withdrawn = "withdrawn"
    expired = "expired"
    #: Closed without an answer because it was spam or a duplicate (with a reason).
    closed = "closed"


OPEN_STATUSES = (
    RequestStatus.unverified,
    RequestStatus.verified,
    RequestStatus.in_progress,
    RequestStatus.awaiting_subject,
)
CLOSED_STATUSES = tuple(s for s in RequestStatus if s not in OPEN_STATUSES)
OPEN_STATUS_SQL = "status IN ('unverified', 'verified', 'in_progress', 'awaiting_subject')"
UNVERIFIED_SQL = "status = 'unverified'"
NOT_ANONYMIZED_SQL = "closed_at IS NOT NULL AND anonymized_at IS NULL"


class Channel(enum.StrEnum):
    web = "web"
    api = "api"
    email = "email"
    letter = "letter"
    phone = "phone"
    in_person = "in_person"


class AssuranceLevel(enum.StrEnum):
    """How sure the service is of the subject's identity, weakest first."""

    none = "none"
    email_verified = "email_verified"
    personnummer_matched = "personnummer_matched"
    #: The subject identified with e-legitimation (BankID, Freja eID) through an OpenID
    #: provider, which vouched for their personnummer (``dsr.eid``).
    eid_verified = "eid_verified"
    staff_verified = "staff_verified"

    @property
    def rank(self) -> int:
        return list(AssuranceLevel).index(self)


class RefusalScope(enum.StrEnum):
    partial = "partial"
    full = "full"


class RefusalGrounds(enum.StrEnum):
    """Why a request (or part of it) is refused; the first two need a written justification."""

    manifestly_unfounded = "manifestly_unfounded"  # Art. 12(5)
    excessive = "excessive"  # Art. 12(5)
    unidentifiable = "unidentifiable"  # Art. 11(2), 12(2)
    exemption = "exemption"  # e.g. Art. 15(4), 17(3), dataskyddslagen
    other = "other"


class CloseReason(enum.StrEnum):
    spam = "spam"
    duplicate = "duplicate"


class PauseReason(enum.StrEnum):
    identity = "identity"  # Art. 12(6): reasonable doubt about who the subject is
    clarification = "clarification"  # Recital 63: what the request covers


class StaffRole(enum.StrEnum):
    admin = "admin"
    handler = "handler"
    auditor = "auditor"


class ActorType(enum.StrEnum):
    staff = "staff"
    subject = "subject"
    system = "system"
    api = "api"


class TokenPurpose(enum.StrEnum):
    verify_email = "verify_email"
    status = "status"
    download = "download"
    staff_invite = "staff_invite"


class OutboxStatus(enum.StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    #: Given up after the configured number of attempts; admins were alerted.
    dead = "dead"


class ExportState(enum.StrEnum):
    building = "building"
    ready = "ready"
    expired = "expired"
    failed = "failed"


class TaskKind(enum.StrEnum):
    locate = "locate"
    erase = "erase"
    rectify = "rectify"
    restrict = "restrict"
    notify = "notify"  # Art. 19 notice to a recipient
    review = "review"  # Art. 22 human review
    other = "other"


class TaskStatus(enum.StrEnum):
    open = "open"
    done = "done"
    not_applicable = "not_applicable"


class MessageDirection(enum.StrEnum):
    to_subject = "to_subject"
    from_subject = "from_subject"


def enum_column(
    enum_cls: type[enum.Enum],
    name: str,
    *,
    nullable: bool = False,
    index: bool = False,
    default: Any = None,
) -> Column[Any]:
    """A text column limited to the enum's values by a named CHECK constraint."""
    return Column(
        SAEnum(
            enum_cls,
            native_enum=False,
            length=32,
            create_constraint=True,
            validate_strings=True,
            values_callable=lambda e: [m.value for m in e],
            name=name,
        ),
        nullable=nullable,
        index=index,
        default=default,
    )


def utc_column(*, nullable: bool = True, index: bool = False) -> Column[Any]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


def fk_column(
    target: str, *, nullable: bool = True, index: bool = True, ondelete: str | None = None
) -> Column[Any]:
    return Column(Integer, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index)


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_users"

    id: int | None = Field(default=None, primary_key=True)
    #: Lower-cased; the login name.
    email: str = Field(sa_column=Column(String(254), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    role: StaffRole = Field(sa_column=enum_column(StaffRole, "staff_role"))
    #: argon2id hash; empty until an invited user sets a password.
    password_hash: str | None = Field(default=None, sa_column=Column(String(255)))
    active: bool = Field(default=True)
    language: str = Field(
        default="sv", sa_column=Column(String(2), nullable=False, server_default="sv")
    )
    last_login_at: datetime | None = Field(default=None, sa_column=utc_column())
    #: Bumped on password change or deactivation; part of the login cookie, so old sessions end.
    session_version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))

    # Flask-Login protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def can_act(self) -> bool:
        """Handlers and admins change requests; auditors only read."""
        return self.role in (StaffRole.admin, StaffRole.handler)

    @property
    def is_admin(self) -> bool:
        return self.role == StaffRole.admin


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(100), nullable=False, unique=True))
    #: HMAC-SHA256 of the token; the token itself is shown once and never stored.
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    #: First characters of the token, so an admin can tell tokens apart.
    prefix: str = Field(sa_column=Column(String(12), nullable=False))
    created_by_id: int | None = Field(default=None, sa_column=fk_column("staff_users.id"))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column())


class ReferenceCounter(SQLModel, table=True):
    """Last reference number issued per year: DSR-<year>-<number>."""

    __tablename__ = "reference_counters"
    __table_args__ = (CheckConstraint("last_number >= 0", name="last_number_not_negative"),)

    year: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    last_number: int = Field(default=0)


class Request(SQLModel, table=True):
    __tablename__ = "requests"
    __table_args__ = (
        CheckConstraint("language IN ('sv', 'en')", name="language_known"),
        CheckConstraint("due_legal >= due_target", name="legal_due_not_before_target"),
        CheckConstraint(
            "(extended_at IS NULL) = (extension_reason IS NULL)", name="extension_has_reason"
        ),
        CheckConstraint(
            "(status IN ('completed', 'refused', 'withdrawn', 'expired', 'closed'))"
            " = (closed_at IS NOT NULL)",
            name="closed_iff_final",
        ),
        CheckConstraint(
            "refusal_scope IS NULL OR refusal_reason IS NOT NULL", name="refusal_has_reason"
        ),
        CheckConstraint(
            "(status = 'closed') = (close_reason IS NOT NULL)", name="closed_has_close_reason"
        ),
        # The queue's default order and its keyset pagination.
        Index("ix_requests_due_legal_id", "due_legal", "id"),
        Index("ix_requests_status_due_legal_id", "status", "due_legal", "id"),
        Index("ix_requests_assignee_due_legal_id", "assignee_id", "due_legal", "id"),
        Index("ix_requests_received_at_id", "received_at", "id"),
        # The default queue: open requests by legal due date.
        Index(
            "ix_requests_open_due_legal_id",
            "due_legal",
            "id",
            sqlite_where=text(OPEN_STATUS_SQL),
            postgresql_where=text(OPEN_STATUS_SQL),
        ),
        # The expiry job: unverified requests by age (a few among very many).
        Index(
            "ix_requests_unverified_created_at",
            "created_at",
            sqlite_where=text(UNVERIFIED_SQL),
            postgresql_where=text(UNVERIFIED_SQL),
        ),
        # The retention job: closed requests that still hold personal data. Once the job has
        # caught up only a few years' worth of recent ones are in it, and none are due.
        Index(
            "ix_requests_not_anonymized_closed_at",
            "closed_at",
            sqlite_where=text(NOT_ANONYMIZED_SQL),
            postgresql_where=text(NOT_ANONYMIZED_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: Public reference, e.g. DSR-2026-000123; what the subject quotes.
    reference: str = Field(sa_column=Column(String(20), nullable=False, unique=True))
    regime: Regime = Field(default=Regime.gdpr, sa_column=enum_column(Regime, "regime"))
    right: Right = Field(sa_column=enum_column(Right, "request_right", index=True))
    status: RequestStatus = Field(
        default=RequestStatus.unverified, sa_column=enum_column(RequestStatus, "request_status")
    )
    channel: Channel = Field(sa_column=enum_column(Channel, "channel", index=True))
    #: Language the subject reads: emails, status page, answer.
    language: str = Field(default="sv", sa_column=Column(String(2), nullable=False))

    #: When the request reached an official channel (Art. 12(3) starts the clock here).
    received_at: datetime = Field(sa_column=utc_column(nullable=False))
    #: Current due date before rolling past weekends and holidays (moves with pauses/extension).
    due_target: date
    #: Current legal due date: ``due_target`` rolled to the next working day.
    due_legal: date
    #: Legal due date of the first period; an extension must be noticed before it passes.
    first_due_legal: date
    extended_at: datetime | None = Field(default=None, sa_column=utc_column())
    extension_reason: str | None = Field(default=None, sa_column=Column(Text))

    subject_name: str | None = Field(default=None, sa_column=Column(String(200)))
    #: Lower-cased email address; where every message to the subject goes.
    subject_email: str | None = Field(default=None, sa_column=Column(String(254), index=True))
    subject_phone: str | None = Field(default=None, sa_column=Column(String(40)))
    #: Personnummer/samordningsnummer, 12 digits, encrypted (see dsr.crypto).
    subject_pnr_encrypted: str | None = Field(default=None, sa_column=Column(Text))
    #: Keyed hash of the 12-digit form, to match without decrypting.
    subject_pnr_hmac: str | None = Field(default=None, sa_column=Column(String(64), index=True))
    #: What staff lists show, e.g. 19640823-****.
    subject_pnr_masked: str | None = Field(default=None, sa_column=Column(String(16)))
    #: A personnummer proven by e-legitimation that differs from ``subject_pnr_*``: kept,
    #: encrypted, only for staff to decide which is right; never searched with.
    eid_pnr_encrypted: str | None = Field(default=None, sa_column=Column(Text))
    eid_pnr_masked: str | None = Field(default=None, sa_column=Column(String(16)))
    #: What the subject asked for, per right (fields differ by right).
    details: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )

    assurance: AssuranceLevel = Field(
        default=AssuranceLevel.none, sa_column=enum_column(AssuranceLevel, "assurance_level")
    )
    assurance_method: str | None = Field(default=None, sa_column=Column(String(100)))
    assurance_note: str | None = Field(default=None, sa_column=Column(Text))
    assurance_at: datetime | None = Field(default=None, sa_column=utc_column())
    verified_at: datetime | None = Field(default=None, sa_column=utc_column())

    assignee_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff_users.id"), nullable=True)
    )
    #: Staff member who registered a letter/phone request, or None.
    created_by_id: int | None = Field(
        default=None, sa_column=fk_column("staff_users.id", index=False)
    )
    #: Trusted system that filed it through the API, or None.
    api_token_id: int | None = Field(
        default=None, sa_column=fk_column("api_tokens.id", index=False)
    )
    duplicate_of_id: int | None = Field(default=None, sa_column=fk_column("requests.id"))

    refusal_scope: RefusalScope | None = Field(
        default=None, sa_column=enum_column(RefusalScope, "refusal_scope", nullable=True)
    )
    refusal_reason: str | None = Field(default=None, sa_column=Column(Text))
    refusal_grounds: RefusalGrounds | None = Field(
        default=None, sa_column=enum_column(RefusalGrounds, "refusal_grounds", nullable=True)
    )
    #: Required for "manifestly unfounded or excessive" (Art. 12(5)): the controller's proof.
    refusal_justification: str | None = Field(default=None, sa_column=Column(Text))
    close_reason: CloseReason | None = Field(
        default=None, sa_column=enum_column(CloseReason, "close_reason", nullable=True)
    )
    close_note: str | None = Field(default=None, sa_column=Column(Text))
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(index=True))
    #: Personal data removed by retention; anonymous facts remain.
    anonymized_at: datetime | None = Field(default=None, sa_column=utc_column())

    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))

    assignee: StaffUser | None = Relationship(
        sa_relationship_kwargs={"foreign_keys": "Request.assignee_id", "lazy": "joined"}
    )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class RequestPause(SQLModel, table=True):
    """A period in which the clock stood still while the service waited for the subject."""

    __tablename__ = "request_pauses"
    __table_args__ = (
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
        # At most one open pause per request.
        Index(
            "uq_request_pauses_open",
            "request_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(sa_column=fk_column("requests.id", nullable=False))
    reason: PauseReason = Field(sa_column=enum_column(PauseReason, "pause_reason"))
    #: What was asked of the subject.
    question: str = Field(sa_column=Column(Text, nullable=False))
    started_at: datetime = Field(sa_column=utc_column(nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=utc_column())
    #: Asked later than deadlines.late_pause_days after receipt: staff should look.
    asked_late: bool = Field(default=False)
    asked_by_id: int | None = Field(
        default=None, sa_column=fk_column("staff_users.id", index=False)
    )
    #: The request's status while the question was open; it returns to it on resume.
    status_before: RequestStatus | None = Field(
        default=None, sa_column=enum_column(RequestStatus, "status_before", nullable=True)
    )


class AuditEvent(SQLModel, table=True):
    """One entry in the append-only, hash-chained log of everything that changed.

    ``hash`` covers every column except ``payload`` itself, which is covered through
    ``payload_sha256``; retention may therefore remove a payload holding personal data
    without breaking the chain.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        CheckConstraint("seq >= 1", name="seq_positive"),
        Index("ix_audit_events_request_id_seq", "request_id", "seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: 1, 2, 3, ... without gaps: a missing number is a deleted event.
    seq: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    occurred_at: datetime = Field(sa_column=utc_column(nullable=False))
    actor_type: ActorType = Field(sa_column=enum_column(ActorType, "actor_type"))
    actor_id: int | None = Field(default=None)
    #: Who, in words that survive the actor's deletion (staff email, "subject", "scheduler").
    actor_label: str = Field(sa_column=Column(String(254), nullable=False))
    request_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("requests.id"), nullable=True)
    )
    #: Dotted verb, e.g. ``request.created``, ``request.extended``, ``staff.login``.
    action: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    #: Why, in the actor's words (reasons for extensions, refusals, redactions).
    reason: str | None = Field(default=None, sa_column=Column(Text))
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    payload_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    payload_removed_at: datetime | None = Field(default=None, sa_column=utc_column())
    #: Shown on the subject's status page timeline.
    public: bool = Field(default=False)
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))


class LoginFlow(enum.StrEnum):
    #: A subject proving who they are with e-legitimation, for one request (``dsr.eid``).
    eid = "eid"
    #: A staff member signing in with the company's identity provider (``dsr.staff_sso``).
    staff_sso = "staff_sso"


class OidcLogin(SQLModel, table=True):
    """One sign-in at an OpenID provider, from the redirect there to the callback here.

    The ``state`` that comes back with the callback finds the row; the row must belong to the
    browser that started it, be unused and unexpired. Rows are deleted a day after they
    expire (``dsr.jobs.expiry``).
    """

    __tablename__ = "oidc_logins"
    __table_args__ = (
        CheckConstraint("(flow = 'eid') = (request_id IS NOT NULL)", name="eid_has_request"),
        CheckConstraint("(finished_at IS NULL) = (outcome IS NULL)", name="finished_has_outcome"),
    )

    id: int | None = Field(default=None, primary_key=True)
    flow: LoginFlow = Field(sa_column=enum_column(LoginFlow, "login_flow"))
    #: Keyed hash of the ``state`` parameter, which only the browser and the provider see.
    state_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    #: Keyed hash of the random value in the session cookie of the browser that started it.
    browser_hash: str = Field(sa_column=Column(String(64), nullable=False))
    #: Sent in the authorization request (not secret); the ID token must carry it back.
    nonce: str = Field(sa_column=Column(String(100), nullable=False))
    #: The PKCE code verifier, encrypted; only this service can redeem the code.
    code_verifier_encrypted: str = Field(sa_column=Column(Text, nullable=False))
    request_id: int | None = Field(default=None, sa_column=fk_column("requests.id"))
    #: Where the browser goes afterwards (a status page's address is a secret), encrypted.
    return_to_encrypted: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    expires_at: datetime = Field(sa_column=utc_column(nullable=False, index=True))
    finished_at: datetime | None = Field(default=None, sa_column=utc_column())
    #: ``succeeded``, or why it failed (``dsr.oidc.Failure``).
    outcome: str | None = Field(default=None, sa_column=Column(String(40)))


class VerificationToken(SQLModel, table=True):
    """A secret sent to someone, bound to one request (or staff user) and one purpose.

    Both the long link token and the short code are stored only as keyed hashes.
    """

    __tablename__ = "verification_tokens"
    __table_args__ = (
        CheckConstraint("(request_id IS NULL) <> (staff_user_id IS NULL)", name="one_owner"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    purpose: TokenPurpose = Field(sa_column=enum_column(TokenPurpose, "token_purpose"))
    request_id: int | None = Field(default=None, sa_column=fk_column("requests.id"))
    staff_user_id: int | None = Field(default=None, sa_column=fk_column("staff_users.id"))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    code_hash: str | None = Field(default=None, sa_column=Column(String(64)))
    #: Wrong codes entered so far.
    attempts: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    #: None: valid until revoked (status links live as long as the request's data).
    expires_at: datetime | None = Field(default=None, sa_column=utc_column())
    used_at: datetime | None = Field(default=None, sa_column=utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column())


UNSENT_SQL = "status IN ('pending', 'sending')"


class EmailOutbox(SQLModel, table=True):
    """An email waiting to be sent, written in the transaction of the change that caused it."""

    __tablename__ = "email_outbox"
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_email_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        # The sender's next email: only unsent rows, in the order they go out, so finding
        # it does not depend on how many were sent before (dsr.notifications).
        Index(
            "ix_email_outbox_unsent_next_attempt_at_id",
            "next_attempt_at",
            "id",
            sqlite_where=text(UNSENT_SQL),
            postgresql_where=text(UNSENT_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: Template name under templates/email/, e.g. ``acknowledgement``.
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    to_addr: str = Field(sa_column=Column(String(254), nullable=False))
    language: str = Field(default="sv", sa_column=Column(String(2), nullable=False))
    subject: str = Field(sa_column=Column(String(255), nullable=False))
    #: Rendered bodies, encrypted; removed once sent when they carry a secret (codes, links).
    body_text_encrypted: str | None = Field(default=None, sa_column=Column(Text))
    body_html_encrypted: str | None = Field(default=None, sa_column=Column(Text))
    carries_secret: bool = Field(default=False)
    request_id: int | None = Field(default=None, sa_column=fk_column("requests.id"))
    status: OutboxStatus = Field(
        default=OutboxStatus.pending, sa_column=enum_column(OutboxStatus, "outbox_status")
    )
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    #: Which scheduler holds the row and until when (a crashed sender's claim runs out).
    claimed_by: str | None = Field(default=None, sa_column=Column(String(100)))
    claimed_until: datetime | None = Field(default=None, sa_column=utc_column())
    #: Makes "send this once" a database fact: e.g. ``reminder:42:7``.
    dedupe_key: str | None = Field(default=None, sa_column=Column(String(120), unique=True))
    message_id: str | None = Field(default=None, sa_column=Column(String(255)))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=utc_column())


class Export(SQLModel, table=True):
    """A file of the subject's answer, encrypted at rest, with an expiry (``dsr.exports``).

    ``building`` until the scheduler's job has written it, then ``ready`` (or ``failed``,
    with the reason); staff release a ready answer to the subject, and it becomes
    ``expired`` when its file is purged.
    """

    __tablename__ = "exports"
    __table_args__ = (
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_percent"),
        CheckConstraint("size_bytes IS NULL OR size_bytes >= 0", name="size_not_negative"),
        CheckConstraint("state <> 'failed' OR error IS NOT NULL", name="failure_has_reason"),
        Index("ix_exports_state_claimed_until", "state", "claimed_until"),
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(sa_column=fk_column("requests.id", nullable=False))
    #: The executed plan the answer was made from.
    plan_id: int | None = Field(default=None, sa_column=fk_column("request_plans.id"))
    #: ``dsr.rights.base.digest`` of the plan's outcome when the answer was made: a later
    #: step (a review concluded, a restriction lifted) changes it, and the answer is stale.
    outcome_sha256: str | None = Field(default=None, sa_column=Column(String(64)))
    state: ExportState = Field(
        default=ExportState.building, sa_column=enum_column(ExportState, "export_state")
    )
    #: File name under data_dir/exports; None once purged.
    path: str | None = Field(default=None, sa_column=Column(String(255)))
    size_bytes: int | None = Field(default=None, sa_column=Column(BigInteger))
    #: SHA-256 of the plaintext bundle: what the subject receives.
    sha256: str | None = Field(default=None, sa_column=Column(String(64)))
    progress: int = Field(default=0)
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    ready_at: datetime | None = Field(default=None, sa_column=utc_column())
    released_at: datetime | None = Field(default=None, sa_column=utc_column())
    released_by_id: int | None = Field(
        default=None, sa_column=fk_column("staff_users.id", index=False)
    )
    expires_at: datetime | None = Field(default=None, sa_column=utc_column(index=True))
    purged_at: datetime | None = Field(default=None, sa_column=utc_column())
    download_count: int = Field(default=0)
    #: Which scheduler builds the file and until when (a crashed build's claim runs out).
    claimed_by: str | None = Field(default=None, sa_column=Column(String(100)))
    claimed_until: datetime | None = Field(default=None, sa_column=utc_column())


class ManualTask(SQLModel, table=True):
    """Work a person must do outside the service: a system without a connection, a notice."""

    __tablename__ = "manual_tasks"
    __table_args__ = (
        CheckConstraint(
            "(status = 'open') = (completed_at IS NULL)", name="completed_iff_not_open"
        ),
        CheckConstraint("status = 'open' OR note IS NOT NULL", name="closed_task_has_note"),
        # One task per request, kind and system: creating a right's tasks twice adds nothing.
        Index("uq_manual_tasks_request_kind_target", "request_id", "kind", "target", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(sa_column=fk_column("requests.id", nullable=False))
    kind: TaskKind = Field(sa_column=enum_column(TaskKind, "task_kind"))
    #: The system or recipient the task is about (a name from the controller profile).
    target: str = Field(sa_column=Column(String(200), nullable=False))
    instructions: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: TaskStatus = Field(
        default=TaskStatus.open, sa_column=enum_column(TaskStatus, "task_status")
    )
    note: str | None = Field(default=None, sa_column=Column(Text))
    completed_by_id: int | None = Field(
        default=None, sa_column=fk_column("staff_users.id", index=False)
    )
    completed_at: datetime | None = Field(default=None, sa_column=utc_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))


class RequestMessage(SQLModel, table=True):
    """A message between staff and the subject, shown on the status page."""

    __tablename__ = "request_messages"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(sa_column=fk_column("requests.id", nullable=False))
    direction: MessageDirection = Field(
        sa_column=enum_column(MessageDirection, "message_direction")
    )
    author_id: int | None = Field(default=None, sa_column=fk_column("staff_users.id", index=False))
    body: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))


class SchedulerHeartbeat(SQLModel, table=True):
    """Last sign of life of each scheduler process."""

    __tablename__ = "scheduler_heartbeats"

    instance: str = Field(sa_column=Column(String(100), primary_key=True))
    started_at: datetime = Field(sa_column=utc_column(nullable=False))
    beat_at: datetime = Field(sa_column=utc_column(nullable=False, index=True))


class RateLimitCounter(SQLModel, table=True):
    """Hits per key in a fixed window; shared by every app instance through the database."""

    __tablename__ = "rate_limit_counters"
    __table_args__ = (
        UniqueConstraint("key", "window_start", name="uq_rate_limit_counters_key_window"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: e.g. ``submit:ip:<hmac>``; addresses are hashed, not stored.
    key: str = Field(sa_column=Column(String(120), nullable=False))
    window_start: datetime = Field(sa_column=utc_column(nullable=False, index=True))
    hits: int = Field(default=0)


# --- executing the rights ----------------------------------------------------------------------


class PlanState(enum.StrEnum):
    #: Made and under review; nothing has changed anywhere.
    draft = "draft"
    #: Checked and approved; an erasure waits out its grace period here, cancellable.
    approved = "approved"
    #: Running (an erasure batch by batch); a crashed run resumes from its last checkpoint.
    executing = "executing"
    executed = "executed"
    #: Stopped on an error, with what was done so far kept; can be resumed.
    failed = "failed"
    #: Withdrawn after approval and before it ran.
    cancelled = "cancelled"
    #: A draft replaced by a newer plan.
    superseded = "superseded"


#: States of the one plan a request works with (at most one per request).
LIVE_PLAN_STATES = ("draft", "approved", "executing", "executed", "failed")
LIVE_PLAN_SQL = "state IN ('draft', 'approved', 'executing', 'executed', 'failed')"


class RequestPlan(SQLModel, table=True):
    """What a right will do for one request, approved before anything changes, kept as proof.

    ``plan`` is the right's plan as JSON (``dsr.rights``); ``execution`` is the resumable
    state of a run in progress; ``outcome`` is what was done, which the answer is built from.
    """

    __tablename__ = "request_plans"
    __table_args__ = (
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint(
            "state IN ('draft', 'superseded') OR approved_at IS NOT NULL", name="approved_first"
        ),
        CheckConstraint(
            "(state = 'cancelled') = (cancelled_at IS NOT NULL)", name="cancelled_iff_state"
        ),
        CheckConstraint(
            "cancelled_at IS NULL OR cancel_reason IS NOT NULL", name="cancel_has_reason"
        ),
        CheckConstraint(
            "(state = 'executed') = (executed_at IS NOT NULL)", name="executed_iff_state"
        ),
        UniqueConstraint("request_id", "number", name="uq_request_plans_request_number"),
        # One plan at a time per request; cancelled and superseded ones stay as history.
        Index(
            "uq_request_plans_live",
            "request_id",
            unique=True,
            sqlite_where=text(LIVE_PLAN_SQL),
            postgresql_where=text(LIVE_PLAN_SQL),
        ),
        # The erasure job: approved plans whose grace period is over, and stalled runs.
        Index("ix_request_plans_state_execute_after", "state", "execute_after"),
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(sa_column=fk_column("requests.id", nullable=False))
    right: Right = Field(sa_column=enum_column(Right, "plan_right"))
    #: 1, 2, ... per request: a new plan after a cancelled or replaced one.
    number: int = Field(default=1)
    state: PlanState = Field(
        default=PlanState.draft, sa_column=enum_column(PlanState, "plan_state")
    )
    plan: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    #: SHA-256 of the plan as approved: audit events and the answer refer to it.
    plan_sha256: str | None = Field(default=None, sa_column=Column(String(64)))
    execution: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    outcome: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    #: Why the last run stopped (state ``failed``), for staff.
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
    created_by_id: int | None = Field(
        default=None, sa_column=fk_column("staff_users.id", index=False)
    )
    approved_at: datetime | None = Field(default=None, sa_column=utc_column())
    approved_by_id: int | None = Field(
        default=None, sa_column=fk_column("staff_users.id", index=False)
    )
    #: Not run before this moment: the end of an erasure's grace period.
    execute_after: datetime | None = Field(default=None, sa_column=utc_column())
    started_at: datetime | None = Field(default=None, sa_column=utc_column())
    executed_at: datetime | None = Field(default=None, sa_column=utc_column())
    cancelled_at: datetime | None = Field(default=None, sa_column=utc_column())
    cancelled_by_id: int | None = Field(
        default=None, sa_column=fk_column("staff_users.id", index=False)
    )
    cancel_reason: str | None = Field(default=None, sa_column=Column(Text))
    #: Which process runs the plan and until when (a crashed run's claim runs out).
    claimed_by: str | None = Field(default=None, sa_column=Column(String(100)))
    claimed_until: datetime | None = Field(default=None, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))


class FollowupAction(enum.StrEnum):
    delete = "delete"
    anonymize = "anonymize"


class ErasureFollowup(SQLModel, table=True):
    """Records an erasure kept under an Art. 17(3) exception, to erase when the period ends."""

    __tablename__ = "erasure_followups"
    __table_args__ = (
        CheckConstraint("position >= 0", name="position_not_negative"),
        Index("ix_erasure_followups_done_at_due_on", "done_at", "due_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(sa_column=fk_column("request_plans.id", nullable=False))
    request_id: int = Field(sa_column=fk_column("requests.id", nullable=False))
    source: str = Field(sa_column=Column(String(200), nullable=False))
    table_name: str = Field(sa_column=Column(String(200), nullable=False))
    action: FollowupAction = Field(sa_column=enum_column(FollowupAction, "followup_action"))
    #: Order among the plan's follow-ups due the same day: rows that refer to others first.
    position: int = Field(default=0)
    #: Key values of the rows, as JSON lists; references only, no personal data of their own.
    keys: list[Any] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    #: The law the rows were kept under, in words, and the Art. 17(3) point.
    basis: str = Field(sa_column=Column(Text, nullable=False))
    #: Last day the rows are kept; they are erased from the day after.
    due_on: date
    done_at: datetime | None = Field(default=None, sa_column=utc_column())
    outcome: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    claimed_by: str | None = Field(default=None, sa_column=Column(String(100)))
    claimed_until: datetime | None = Field(default=None, sa_column=utc_column())


class SuppressionReason(enum.StrEnum):
    objection = "objection"  # Art. 21(2)-(3)
    consent_withdrawal = "consent_withdrawal"  # Art. 7(3)


class SuppressionEntry(SQLModel, table=True):
    """An address that gets no more direct marketing, stored only as a keyed hash."""

    __tablename__ = "suppression_list"

    id: int | None = Field(default=None, primary_key=True)
    #: ``dsr.suppression.address_hash`` of the normalised address.
    email_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    reason: SuppressionReason = Field(
        sa_column=enum_column(SuppressionReason, "suppression_reason")
    )
    request_id: int | None = Field(default=None, sa_column=fk_column("requests.id"))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(nullable=False))
