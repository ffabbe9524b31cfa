"""A data table too long for one PDF page repeats its header row on every page it continues.

Astrid has logged in 180 times (more than fit on one page, fewer than the 250 rows after
which the report cuts a table). Her access answer is built by the scheduler's job and its
PDF read page by page, the way she would turn the pages: wherever her logins continue, the
column headings stand above them again.
"""

import io
import re
from datetime import datetime, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dsr.models import Right
from dsr.profiles import current_profile
from tests.exports_support import (  # noqa: F401 - shop is a fixture
    answer_for,
    document,
    opened,
    shop,
)

pytestmark = pytest.mark.usefixtures("shop")

LOGINS = 180
AGENT = "Provwebblasare/{n}"
HEADINGS = ("logged_in_at", "ip_address", "user_agent")


def add_logins(profile, count: int) -> None:
    """Astrid (customer 1) logs in ``count`` more times, each from a browser of its own."""
    url = profile.source("kundsystem").url
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            start = connection.execute(text("SELECT MAX(id) FROM login_events")).scalar() or 0
            connection.execute(
                text(
                    "INSERT INTO login_events (id, customer_id, logged_in_at, ip_address,"
                    " user_agent) VALUES (:id, 1, :at, :ip, :agent)"
                ),
                [
                    {
                        "id": start + n + 1,
                        "at": datetime(2026, 1, 1, 8, 0) + timedelta(hours=n),
                        "ip": f"198.51.100.{n % 250 + 1}",
                        "agent": AGENT.format(n=n),
                    }
                    for n in range(count)
                ],
            )
    finally:
        engine.dispose()


def test_the_header_row_is_repeated_on_every_page_the_table_continues(db, app):
    add_logins(current_profile(), LOGINS)
    _request, export = answer_for(db, app, Right.access)
    doc = document(app, export)
    logins = next(
        t for s in doc["data"]["sources"] for t in s["tables"] if t["table"] == "login_events"
    )
    assert LOGINS < logins["record_count"] < 250  # long, but not cut

    pdf = opened(app, export).read("answer.pdf")
    pages = [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]
    full = " ".join(" ".join(pages).split())
    assert "Rapporten visar de första" not in full  # the table is shown whole
    # The pages her added logins are printed on, in order; each login once.
    holding = [i for i, page in enumerate(pages) if "Provwebblasare/" in page]
    assert len(holding) >= 2, "the table should run over at least two pages"
    assert holding == list(range(holding[0], holding[-1] + 1))
    shown = sorted(int(n) for page in pages for n in re.findall(r"Provwebblasare/(\d+)", page))
    assert shown == list(range(LOGINS))

    heading = re.compile(r"\s+".join(HEADINGS))
    for index in holding[1:]:
        page = pages[index]
        found = heading.search(page)
        assert found, f"page {index + 1} continues the logins without their column headings"
        # The headings stand above the rows of that page, not somewhere below them.
        first_row = page.index("Provwebblasare/")
        assert found.start() < first_row, f"page {index + 1}: the headings come after a row"
        # And only once per page: the header row, not a stray repetition.
        assert len(heading.findall(page)) == 1
