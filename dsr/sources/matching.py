"""Does the personnummer the subject gave belong to the customer their email leads to?

Matching is a check of identity, not a search: only the records reached through the
verified email address are looked at, and the personnummer counts as matched when one of
those customer records holds the same number. A number found elsewhere, on another
person's record, proves nothing about the person writing and is not a match.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlmodel import Session

from dsr import audit, crypto, identity
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import AssuranceLevel, Request
from dsr.personnummer import InvalidPersonnummer
from dsr.personnummer import parse as parse_personnummer
from dsr.profiles import Profile
from dsr.sources.datamap import IdentityKind
from dsr.sources.identities import Identities
from dsr.sources.locate import locate
from dsr.sources.results import LocateResult


class MatchOutcome(enum.StrEnum):
    matched = "matched"
    #: The verified email leads to a customer record with another personnummer, or none.
    different = "different"
    #: The verified email leads to no customer record at all.
    no_customer = "no_customer"
    #: A source could not be searched: nothing can be concluded.
    source_problem = "source_problem"


@dataclass(frozen=True)
class Match:
    outcome: MatchOutcome
    source: str | None = None
    table: str | None = None


class MatchRefused(Exception):
    """Matching does not apply to this request (no number, email not yet confirmed)."""


def _twelve_digits(value: object) -> str | None:
    try:
        return parse_personnummer(str(value), utcnow().date()).digits
    except (InvalidPersonnummer, ValueError):
        return None


def _compare(found: LocateResult, given: str) -> Match:
    """The first customer record reached by email that holds ``given``, or why there is none."""
    saw_customer = False
    for source in found.sources:
        for table in source.tables:
            columns = table.table.identity_columns(IdentityKind.personnummer)
            if not table.table.subject or not columns:
                continue
            for record in table.records:
                if "email" not in record.matched_on:
                    continue
                if given in {_twelve_digits(record.value(c)) for c in columns}:
                    return Match(MatchOutcome.matched, source.name, table.name)
                saw_customer = True
    if not found.ok:
        return Match(MatchOutcome.source_problem)
    return Match(MatchOutcome.different if saw_customer else MatchOutcome.no_customer)


def match_personnummer(
    session: Session, request: Request, profile: Profile, *, data_dir: str, actor: Actor
) -> Match:
    """Compare the request's personnummer with the customer records its email leads to.

    A match raises the assurance to ``personnummer_matched``; every attempt is audited with
    its outcome (never the number).
    """
    if not request.subject_pnr_encrypted:
        raise MatchRefused("the request carries no personnummer")
    if not request.subject_email or request.assurance.rank < AssuranceLevel.email_verified.rank:
        raise MatchRefused("the email address must be confirmed first")
    given = crypto.decrypt(request.subject_pnr_encrypted, crypto.PNR_LABEL)
    found = locate(profile, Identities.of(email=request.subject_email), data_dir=data_dir)
    result = _compare(found, given)
    if result.outcome == MatchOutcome.matched:
        assert result.source is not None
        identity.mark_personnummer_matched(session, request, source=result.source, actor=actor)
    else:
        audit.record(
            session,
            "identity.personnummer_not_matched",
            actor,
            request=request,
            payload={"outcome": result.outcome.value},
        )
    return result
