"""Locating a request's subject across every source of the controller's profile."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dsr import crypto
from dsr.db import utcnow
from dsr.models import AssuranceLevel, Request, TaskKind
from dsr.profiles import ManualSystem, Profile, Recipient
from dsr.sources.datamap import IdentityKind
from dsr.sources.identities import Identities, IdentityError
from dsr.sources.results import LocateResult, ManualCheck
from dsr.sources.sql import SourceCheck, check_source, locate_source

#: Label under which ``Request.subject_pnr_encrypted`` is encrypted (see dsr.crypto).
PNR_CRYPTO_LABEL = crypto.PNR_LABEL

#: The assurance a request must have reached before an identity is used to search with.
#: An email address is proven by the link sent to it; a personnummer is only as good as the
#: match the identity check made; phone numbers and customer ids are claims until staff
#: have checked them.
REQUIRED_ASSURANCE = {
    IdentityKind.email: AssuranceLevel.email_verified,
    IdentityKind.personnummer: AssuranceLevel.personnummer_matched,
    IdentityKind.phone: AssuranceLevel.staff_verified,
    IdentityKind.customer_id: AssuranceLevel.staff_verified,
}


@dataclass(frozen=True)
class RequestIdentities:
    """What a request says about its subject, split into what may be searched with."""

    verified: Identities
    #: Identity kinds on the request that are not (yet) verified well enough.
    unverified: tuple[IdentityKind, ...]
    #: Identity kinds on the request whose value is unusable (a bad personnummer, ...).
    invalid: tuple[IdentityKind, ...]


def identities_for_request(request: Request) -> RequestIdentities:
    """The identities a request carries, and which of them its assurance level vouches for."""
    raw: dict[IdentityKind, str | None] = {
        IdentityKind.email: request.subject_email,
        IdentityKind.phone: request.subject_phone,
        IdentityKind.customer_id: (request.details or {}).get("customer_id"),
        IdentityKind.personnummer: None,
    }
    invalid: list[IdentityKind] = []
    if request.subject_pnr_encrypted:
        try:
            raw[IdentityKind.personnummer] = crypto.decrypt(
                request.subject_pnr_encrypted, PNR_CRYPTO_LABEL
            )
        except crypto.InvalidToken:
            invalid.append(IdentityKind.personnummer)
    usable: dict[str, str] = {}
    unverified: list[IdentityKind] = []
    for kind, value in raw.items():
        if not value:
            continue
        if request.assurance.rank < REQUIRED_ASSURANCE[kind].rank:
            unverified.append(kind)
            continue
        try:
            Identities.of(**{kind.value: str(value)})
        except IdentityError:
            invalid.append(kind)
            continue
        usable[kind.value] = str(value)
    return RequestIdentities(
        verified=Identities.of(**usable),
        unverified=tuple(k for k in IdentityKind if k in unverified),
        invalid=tuple(k for k in IdentityKind if k in invalid),
    )


def manual_checks(profile: Profile) -> list[ManualCheck]:
    """Systems without a connection that hold the subject's data and must be searched by hand."""
    checks = []
    holders: list[ManualSystem | Recipient] = [*profile.manual_systems, *profile.recipients]
    for holder in holders:
        instructions = holder.tasks.get(TaskKind.locate)
        if instructions:
            checks.append(ManualCheck(holder.name, instructions))
    return checks


def locate(
    profile: Profile, identities: Identities, *, data_dir: str | os.PathLike[str]
) -> LocateResult:
    """Every record each source holds about the subject, per source and table.

    Sources are read one after the other, each in its own read-only transaction; a source
    that fails is reported in its result and does not stop the others.
    """
    return LocateResult(
        identities=identities,
        sources=[locate_source(source, identities, data_dir) for source in profile.sources],
        located_at=utcnow(),
        manual=manual_checks(profile),
    )


def check_sources(profile: Profile, data_dir: str | os.PathLike[str]) -> list[SourceCheck]:
    """Whether each source answers and still has its mapped tables and columns."""
    return [check_source(source, data_dir) for source in profile.sources]
