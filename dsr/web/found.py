"""Staff view of what the sources hold about a request's subject.

``found_context`` turns a locate result into plain data for ``templates/staff/_found.html``,
so any staff page (the request page, a plan) can include the partial and feed it the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, abort, current_app, render_template
from sqlalchemy import select

from dsr.db import session as db_session
from dsr.models import Request
from dsr.profiles import Profile, current_profile
from dsr.sources.datamap import IdentityKind
from dsr.sources.locate import RequestIdentities, identities_for_request, locate
from dsr.sources.results import LocateResult, TableResult, plain
from dsr.web.auth import staff_required

bp = Blueprint("found", __name__, url_prefix="/staff")

#: Rows shown per table; the count says how many there are in all.
ROWS_SHOWN = 10


def _shown(value: Any) -> Any:
    """A value as staff read it: times to the minute, the rest as in an export."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return plain(value)


def _mask_pnr(value: Any) -> Any:
    digits = "".join(ch for ch in str(value) if ch.isdigit()) if value is not None else ""
    if len(digits) in (10, 12):
        return f"{digits[:-4]}-****"
    return value


def _table_context(profile: Profile, result: TableResult) -> dict[str, Any]:
    table = result.table
    masked = set(table.identity_columns(IdentityKind.personnummer))
    columns = []
    shown = result.records[0].fields if result.records else ()
    for item in shown:
        category = profile.categories.get(item.category or "")
        columns.append(
            {
                "name": item.column,
                "category": item.category,
                "category_label": category.description if category else "",
            }
        )
    rows = []
    for record in result.records[:ROWS_SHOWN]:
        values = [
            _shown(_mask_pnr(f.value) if f.column in masked else f.value) for f in record.fields
        ]
        rows.append(
            {
                "key": record.key_text,
                "matched_on": list(record.matched_on),
                "people": sorted(record.people),
                "values": values,
                "restricted": record.restricted,
                "retain_until": record.retain_until,
            }
        )
    return {
        "name": table.name,
        "label": table.label or table.name,
        "count": len(result.records),
        "problem": result.problem.as_dict() if result.problem else None,
        "unmapped": list(result.unmapped_columns),
        "on_behalf_of": table.on_behalf_of,
        "erasure": table.erasure.value,
        "columns": columns,
        "rows": rows,
        "more": max(0, len(result.records) - ROWS_SHOWN),
    }


def found_context(
    profile: Profile, identities: RequestIdentities, result: LocateResult | None
) -> dict[str, Any]:
    """Plain data for the ``staff/_found.html`` partial."""
    shown = identities.verified.masked()
    listed = [{"kind": kind, "value": value, "state": "used"} for kind, value in shown.items()]
    listed += [{"kind": k.value, "value": "", "state": "unverified"} for k in identities.unverified]
    listed += [{"kind": k.value, "value": "", "state": "invalid"} for k in identities.invalid]
    context: dict[str, Any] = {"searched": result is not None, "identities": listed}
    if result is None:
        return context
    context.update(
        located_at=result.located_at,
        ok=result.ok,
        ambiguous=result.ambiguous,
        record_count=result.record_count,
        manual=[m.as_dict() for m in result.manual],
        sources=[
            {
                "name": source.name,
                "label": source.source.label or source.name,
                "ok": source.ok,
                "problem": source.problem.as_dict() if source.problem else None,
                "ambiguous": source.ambiguous,
                "record_count": source.record_count,
                "people": [p.as_dict() for p in source.people],
                "tables": [_table_context(profile, t) for t in source.tables],
            }
            for source in result.sources
        ],
    )
    return context


@bp.get("/requests/<reference>/found")
@staff_required
def found(reference: str) -> Any:
    request_row = (
        db_session().scalars(select(Request).where(Request.reference == reference)).one_or_none()
    )
    if request_row is None:
        abort(404)
    profile = current_profile()
    identities = identities_for_request(request_row)
    result = None
    if identities.verified:
        result = locate(profile, identities.verified, data_dir=current_app.config["DATA_DIR"])
    return render_template(
        "staff/found.html",
        reference=request_row.reference,
        found=found_context(profile, identities, result),
    )
