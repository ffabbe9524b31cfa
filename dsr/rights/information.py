"""What Art. 15(1)-(2) says an access answer tells besides the copy, from the profile.

The information is tailored to the data found: the purposes and categories of the columns
that hold the subject's data, the recipients of those categories (by name, CJEU C-154/21),
the automated decisions of those purposes and the transfers to those recipients. When
nothing was found, the whole record of processing is given instead, so the subject still
learns what the controller does. The rights (Art. 16-18, 21, and 20, 7(3), 22 where they
apply) and the right to complain to the supervisory authority are always there.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from dsr.models import Right
from dsr.profiles import LegalBasis, Profile

RIGHT_TEXTS = {
    Right.rectification: (
        "16",
        _l("You may have inaccurate data about you corrected and incomplete data completed."),
    ),
    Right.erasure: (
        "17",
        _l(
            "You may have your data erased, unless we must keep it, for example under the Accounting Act."
        ),
    ),
    Right.restriction: (
        "18",
        _l(
            "You may have the processing of your data restricted, for example while its accuracy is checked."
        ),
    ),
    Right.objection: (
        "21",
        _l(
            "You may object to processing based on our legitimate interests, and always to direct marketing."
        ),
    ),
    Right.portability: (
        "20",
        _l(
            "You may receive the data you gave us, processed on your consent or our contract, in a machine-readable form, or have it sent to another controller."
        ),
    ),
    Right.consent_withdrawal: (
        "7(3)",
        _l("You may withdraw a consent at any time; this does not affect processing before."),
    ),
    Right.human_review: (
        "22",
        _l(
            "You may have an automated decision reviewed by a person, give your view and contest it."
        ),
    ),
}

#: Always told (Art. 15(1)(e)); the others where the profile's processing gives them.
ALWAYS = (Right.rectification, Right.erasure, Right.restriction, Right.objection)


def controller_details(profile: Profile) -> dict[str, Any]:
    """Who the controller is and how to reach them, as every answer states it."""
    c = profile.controller
    return {
        "name": c.name,
        "organisation_number": c.organisation_number,
        "address": c.address,
        "email": c.privacy_email,
        "phone": c.phone,
        "website": c.website,
        "policy_url": c.policy_url,
        "dpo": {"name": c.dpo.name, "email": c.dpo.email, "phone": c.dpo.phone} if c.dpo else None,
    }


def information(
    profile: Profile,
    purposes_used: Collection[str],
    categories_used: Collection[str],
    language: str,
) -> dict[str, Any]:
    """The Art. 15(1)(a)-(h) and 15(2) information, as plain JSON, in ``language``."""
    tailored = bool(purposes_used or categories_used)
    purposes = [p for k, p in profile.purposes.items() if not tailored or k in purposes_used]
    categories = set(categories_used) if tailored else set(profile.categories)
    recipients = [
        r
        for r in profile.recipients
        if not tailored or not r.categories or categories & set(r.categories)
    ]
    used_purposes = {p.key for p in purposes}
    decisions = [d for d in profile.automated_decisions if d.purpose in used_purposes]
    bases = {p.basis for p in purposes}
    rights = list(ALWAYS)
    if bases & {LegalBasis.consent, LegalBasis.contract}:
        rights.append(Right.portability)
    if LegalBasis.consent in bases:
        rights.append(Right.consent_withdrawal)
    if decisions:
        rights.append(Right.human_review)
    with force_locale(language):
        right_texts = [
            {
                "right": right.value,
                "article": RIGHT_TEXTS[right][0],
                "text": str(RIGHT_TEXTS[right][1]),
            }
            for right in rights
        ]
    return {
        "tailored": tailored,
        "controller": controller_details(profile),
        "purposes": [
            {
                "key": p.key,
                "description": p.description,
                "basis": p.basis.value,
                "article": p.basis.article,
                "interest": p.interest,
                "special_condition": p.special_condition,
                "direct_marketing": p.direct_marketing,
                "categories": [c for c in p.categories if c in categories],
                "retention": p.retention,
            }
            for p in purposes
        ],
        "categories": [
            {"key": c.key, "description": c.description, "special": c.special}
            for key, c in profile.categories.items()
            if key in categories
        ],
        "recipients": [
            {
                "name": r.name,
                "kind": r.kind.value,
                "service": r.service,
                "countries": list(r.countries),
                "categories": [c for c in r.categories if c in categories],
            }
            for r in recipients
        ],
        "transfers": [
            {
                "recipient": r.name,
                "countries": list(r.outside_eea),
                "safeguard": r.safeguard,
            }
            for r in recipients
            if r.outside_eea
        ],
        "source_of_data": profile.data_sources_text,
        "automated_decisions": [
            {
                "name": d.name,
                "logic": d.logic,
                "consequences": d.consequences,
                "basis": d.basis.value,
                "purpose": d.purpose,
            }
            for d in decisions
        ],
        "rights": right_texts,
        "complaint": {
            "authority": profile.authority.name,
            "address": profile.authority.address,
            "website": profile.authority.website,
            "email": profile.authority.email,
        },
    }
