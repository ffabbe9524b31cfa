"""Deadline mail for staff: reminders before the legal due date, escalations after it, and a
daily digest of open requests.

Nothing here stores "overdue" or "due soon": both are worked out from ``Request.due_legal``
and today's date in the controller's time zone each time. Every email has a dedupe key, so
each job can run any number of times (two schedulers, cron on top) and still sends each
reminder once per request, due date and offset, each escalation once per request, admin and
day, and each digest once per person and day. (On SQLite each job first takes the write
lock, as ``dsr.jobs.claims`` explains, so that a concurrent run waits instead of failing.)

While a request waits for the subject its clock stands still and ``due_legal`` is moved on
resume (LEGAL.md A9), so paused requests get no reminders or escalations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session, col

from dsr import deadlines
from dsr.jobs.claims import local_today, take_write_lock
from dsr.labels import RIGHT_WITH_ARTICLE, STAFF_STATUS_LABELS
from dsr.models import OPEN_STATUSES, Request, RequestStatus, StaffRole, StaffUser
from dsr.notifications import admin_recipients, queue_email_once, queued_keys

#: Open requests whose deadline clock is running.
CLOCK_RUNNING = (RequestStatus.unverified, RequestStatus.verified, RequestStatus.in_progress)
#: Longest list of requests in one digest section; the rest is counted.
DIGEST_LIMIT = 50
#: Requests loaded per query when the jobs need whole rows.
LOAD_CHUNK = 500


def reminder_offset(days_left: int, offsets: Sequence[int]) -> int | None:
    """Which reminder is due with ``days_left`` days to go: the smallest offset not below it.

    With offsets 7, 3, 1: 7 → 7 (and 5 → 7, when the scheduler was away on the day), 3 → 3,
    1 and 0 → 1; more than 7 days, or already overdue, → None. Offsets passed over are not
    sent late: the one that matches today says everything the earlier ones would have.
    """
    if days_left < 0:
        return None
    candidates = [d for d in offsets if d >= days_left]
    return min(candidates) if candidates else None


def _item(request: Any, today: date, config: Mapping[str, Any]) -> dict[str, Any]:
    """What staff emails say about a request: no names or addresses, only the facts.

    ``request`` is a ``Request`` or a row with its ``reference``, ``right``, ``status`` and
    ``due_legal``.
    """
    left = deadlines.days_left(request.due_legal, today)
    paused = request.status == RequestStatus.awaiting_subject
    state = (
        "paused"
        if paused
        else deadlines.due_state(request.due_legal, today, config["DEADLINES_DUE_SOON_DAYS"]).value
    )
    return {
        "reference": request.reference,
        "right": RIGHT_WITH_ARTICLE[request.right],
        "status": STAFF_STATUS_LABELS[request.status],
        "due": request.due_legal,
        "days_left": left,
        "days_overdue": -left,
        "state": state,
        "url": f"{config['BASE_URL']}/staff/requests/{request.reference}",
    }


def _recipient(request: Request, config: Mapping[str, Any]) -> tuple[str, str]:
    assignee = request.assignee
    if assignee is not None and assignee.active and assignee.can_act:
        return assignee.email, assignee.language
    return config["MAIL_PRIVACY_TEAM"], config["DEFAULT_LANGUAGE"]


def _clock_running(session: Session, ids: Sequence[int]) -> dict[int, Request]:
    """The requests of ``ids`` whose clock still runs, with their assignees, by id.

    The jobs first decide from a few columns which requests need an email, and load whole
    rows only for those: most days that is a small share of the requests they look at.
    """
    found: dict[int, Request] = {}
    for start in range(0, len(ids), LOAD_CHUNK):
        chunk = ids[start : start + LOAD_CHUNK]
        for request in session.scalars(
            select(Request).where(
                col(Request.id).in_(chunk), col(Request.status).in_(CLOCK_RUNNING)
            )
        ).unique():
            assert request.id is not None
            found[request.id] = request
    return found


def send_reminders(session: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Remind the assignee (or the privacy team) ``scheduler.reminder_days`` before due."""
    offsets = sorted(set(config["SCHEDULER_REMINDER_DAYS"]))
    if not offsets:
        return 0
    take_write_lock(session)
    today = local_today(now, config)
    candidates = session.execute(
        select(col(Request.id), col(Request.due_legal))
        .where(
            col(Request.status).in_(CLOCK_RUNNING),
            col(Request.due_legal) >= today,
            col(Request.due_legal) <= today + timedelta(days=max(offsets)),
        )
        .order_by(col(Request.id))
    ).all()
    due: list[tuple[int, str]] = []
    for request_id, due_legal in candidates:
        offset = reminder_offset(deadlines.days_left(due_legal, today), offsets)
        if offset is not None:
            due.append((request_id, f"reminder:{request_id}:{due_legal.isoformat()}:{offset}"))
    done = queued_keys(session, (key for _, key in due))
    due = [(request_id, key) for request_id, key in due if key not in done]
    if not due:
        return 0
    requests = _clock_running(session, [request_id for request_id, _ in due])
    queued = 0
    for request_id, key in due:
        request = requests.get(request_id)
        if request is None:
            continue  # closed or paused since
        address, language = _recipient(request, config)
        row = queue_email_once(
            session,
            "reminder",
            address,
            dedupe_key=key,
            language=language,
            context={"item": _item(request, today, config), "staff_url": _staff_url(config)},
            request=request,
        )
        queued += row is not None
    return queued


def escalate_overdue(session: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Tell every active admin, once a day, about each open request past its legal due date."""
    take_write_lock(session)
    today = local_today(now, config)
    overdue = session.scalars(
        select(col(Request.id))
        .where(col(Request.status).in_(CLOCK_RUNNING), col(Request.due_legal) < today)
        .order_by(col(Request.id))
    ).all()
    if not overdue:
        return 0
    recipients = admin_recipients(session, config)
    keys = {
        (request_id, who): f"escalation:{request_id}:{today.isoformat()}:{who}"
        for request_id in overdue
        for _, _, who in recipients
    }
    done = queued_keys(session, keys.values())
    waiting = [
        request_id
        for request_id in overdue
        if any(keys[(request_id, who)] not in done for _, _, who in recipients)
    ]
    if not waiting:
        return 0
    requests = _clock_running(session, waiting)
    queued = 0
    for request_id in waiting:
        request = requests.get(request_id)
        if request is None:
            continue
        context = {
            "item": _item(request, today, config),
            "assignee": request.assignee.name if request.assignee is not None else None,
            "staff_url": _staff_url(config),
        }
        for address, language, who in recipients:
            key = keys[(request_id, who)]
            if key in done:
                continue
            row = queue_email_once(
                session,
                "escalation",
                address,
                dedupe_key=key,
                language=language,
                context=context,
                request=request,
            )
            queued += row is not None
    return queued


@dataclass
class _Share:
    """One person's part of the open requests (or the unassigned part), for the digest."""

    items: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    overdue: int = 0

    @property
    def more(self) -> int:
        return max(0, self.total - DIGEST_LIMIT)


def _digest_shares(
    session: Session, assignees: Sequence[int], today: date, config: Mapping[str, Any]
) -> dict[int | None, _Share]:
    """The open requests of each of ``assignees`` and the unassigned ones (key None): how
    many, how many overdue, and the first ``DIGEST_LIMIT`` by due date.

    The database counts and picks; only the rows the emails list are read.
    """
    is_open = col(Request.status).in_(OPEN_STATUSES)
    overdue = case(
        (
            and_(
                col(Request.status) != RequestStatus.awaiting_subject,
                col(Request.due_legal) < today,
            ),
            1,
        ),
        else_=0,
    )
    shares: dict[int | None, _Share] = {person: _Share() for person in (*assignees, None)}
    counted = session.execute(
        select(col(Request.assignee_id), func.count(), func.sum(overdue))
        .where(
            is_open,
            or_(col(Request.assignee_id).in_(assignees), col(Request.assignee_id).is_(None)),
        )
        .group_by(col(Request.assignee_id))
    ).all()
    for assignee_id, total, overdue_count in counted:
        shares[assignee_id].total = int(total)
        shares[assignee_id].overdue = int(overdue_count or 0)
    columns = (
        col(Request.reference),
        col(Request.right),
        col(Request.status),
        col(Request.due_legal),
    )
    for assignee_id, share in shares.items():
        if not share.total:
            continue
        whose = (
            col(Request.assignee_id).is_(None)
            if assignee_id is None
            else col(Request.assignee_id) == assignee_id
        )
        rows = session.execute(
            select(*columns)
            .where(whose, is_open)
            .order_by(col(Request.due_legal), col(Request.id))
            .limit(DIGEST_LIMIT)
        ).all()
        share.items = [_item(row, today, config) for row in rows]
    return shares


def send_digests(session: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Each active handler and admin gets their open requests, and the unassigned ones, by
    due date; people with nothing to do get no email."""
    take_write_lock(session)
    today = local_today(now, config)
    staff = session.scalars(
        select(StaffUser)
        .where(
            col(StaffUser.role).in_((StaffRole.admin, StaffRole.handler)),
            col(StaffUser.active).is_(True),
        )
        .order_by(col(StaffUser.id))
    ).all()
    if not staff:
        return 0
    keys = {person.id: f"digest:{person.id}:{today.isoformat()}" for person in staff}
    done = queued_keys(session, keys.values())
    waiting = [person for person in staff if keys[person.id] not in done]
    if not waiting:
        return 0
    shares = _digest_shares(
        session, [person.id for person in waiting if person.id is not None], today, config
    )
    unassigned = shares[None]
    queued = 0
    for person in waiting:
        mine = shares[person.id]
        if not (mine.total or unassigned.total):
            continue
        row = queue_email_once(
            session,
            "digest",
            person.email,
            dedupe_key=keys[person.id],
            language=person.language,
            context={
                "name": person.name,
                "today": today,
                "mine": mine.items,
                "mine_more": mine.more,
                "mine_overdue": mine.overdue,
                "unassigned": unassigned.items,
                "unassigned_more": unassigned.more,
                "staff_url": _staff_url(config),
            },
        )
        queued += row is not None
    return queued


def _staff_url(config: Mapping[str, Any]) -> str:
    return f"{config['BASE_URL']}/staff/"
