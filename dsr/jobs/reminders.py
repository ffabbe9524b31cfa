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

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
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


def _item(request: Request, today: date, config: Mapping[str, Any]) -> dict[str, Any]:
    """What staff emails say about a request: no names or addresses, only the facts."""
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


def send_reminders(session: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Remind the assignee (or the privacy team) ``scheduler.reminder_days`` before due."""
    offsets = sorted(set(config["SCHEDULER_REMINDER_DAYS"]))
    if not offsets:
        return 0
    take_write_lock(session)
    today = local_today(now, config)
    requests = session.scalars(
        select(Request)
        .where(
            col(Request.status).in_(CLOCK_RUNNING),
            col(Request.due_legal) >= today,
            col(Request.due_legal) <= today + timedelta(days=max(offsets)),
        )
        .order_by(col(Request.id))
    ).all()
    due: list[tuple[Request, int, str]] = []
    for request in requests:
        offset = reminder_offset(deadlines.days_left(request.due_legal, today), offsets)
        if offset is not None:
            key = f"reminder:{request.id}:{request.due_legal.isoformat()}:{offset}"
            due.append((request, offset, key))
    done = queued_keys(session, (key for _, _, key in due))
    queued = 0
    for request, _offset, key in due:
        if key in done:
            continue
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
    requests = session.scalars(
        select(Request)
        .where(col(Request.status).in_(CLOCK_RUNNING), col(Request.due_legal) < today)
        .order_by(col(Request.id))
    ).all()
    if not requests:
        return 0
    recipients = admin_recipients(session, config)
    keys = {
        (request.id, who): f"escalation:{request.id}:{today.isoformat()}:{who}"
        for request in requests
        for _, _, who in recipients
    }
    done = queued_keys(session, keys.values())
    queued = 0
    for request in requests:
        context = {
            "item": _item(request, today, config),
            "assignee": request.assignee.name if request.assignee is not None else None,
            "staff_url": _staff_url(config),
        }
        for address, language, who in recipients:
            key = keys[(request.id, who)]
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
    if len(done) == len(keys):
        return 0
    requests = session.scalars(
        select(Request)
        .where(col(Request.status).in_(OPEN_STATUSES))
        .order_by(col(Request.due_legal), col(Request.id))
    ).all()
    by_assignee: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for request in requests:
        by_assignee[request.assignee_id].append(_item(request, today, config))
    unassigned = by_assignee.get(None, [])
    queued = 0
    for person in staff:
        key = keys[person.id]
        mine = by_assignee.get(person.id, [])
        if key in done or not (mine or unassigned):
            continue
        row = queue_email_once(
            session,
            "digest",
            person.email,
            dedupe_key=key,
            language=person.language,
            context={
                "name": person.name,
                "today": today,
                "mine": mine[:DIGEST_LIMIT],
                "mine_more": max(0, len(mine) - DIGEST_LIMIT),
                "mine_overdue": sum(1 for i in mine if i["state"] == "overdue"),
                "unassigned": unassigned[:DIGEST_LIMIT],
                "unassigned_more": max(0, len(unassigned) - DIGEST_LIMIT),
                "staff_url": _staff_url(config),
            },
        )
        queued += row is not None
    return queued


def _staff_url(config: Mapping[str, Any]) -> str:
    return f"{config['BASE_URL']}/staff/"
