"""A subject with a hundred thousand records gets a complete answer.

How much memory and time that takes is for the benchmarks; here the answer must simply be
finished and whole: every record in the JSON and the CSV, the PDF cut with its note.
"""

import io
import json
import zipfile

from dsr.db import utcnow
from dsr.exports import service
from dsr.exports.jobs import build_answers
from dsr.models import ExportState, Right
from dsr.rights import service as plans
from tests.exports_support import pdf_text
from tests.rights_support import (
    HANDLER,
    build_shop,
    profile_in,
    shop_profile,
    source_url,
    subject_request,
)

LOGINS = 100_000


def test_a_hundred_thousand_records_export_to_completion(
    app, db, backend, databases, tmp_path, monkeypatch
):
    url = source_url(backend, databases, tmp_path, "large")
    build_shop(url, logins=LOGINS)
    with profile_in(app, shop_profile(url)):
        request = subject_request(db, Right.access)
        row = plans.make_plan(db, request, actor=HANDLER)
        plans.approve(db, row, actor=HANDLER)
        plans.execute(db, row, actor=HANDLER)
        export = service.prepare(db, request, actor=HANDLER)
        db.commit()
        progress = []
        original = service._save_progress

        def watch(session, export_, owner, percent):
            progress.append(percent)
            original(session, export_, owner, percent)

        monkeypatch.setattr(service, "_save_progress", watch)
        assert build_answers(db, utcnow(), app.config) == 1
        db.refresh(export)
        assert export.state == ExportState.ready, export.error
        # Progress reached the row step by step on the way.
        assert progress == sorted(progress) and len(progress) > 10

        with service.open_plaintext(export, app.config) as plain:
            bundle = zipfile.ZipFile(io.BytesIO(plain.read()))
    doc = json.loads(bundle.read("answer.json"))
    logins = next(t for s in doc["data"]["sources"] for t in s["tables"] if t["table"] == "logins")
    assert logins["record_count"] == LOGINS == len(logins["records"])
    assert {r["values"]["ip"] for r in logins["records"][:250]} >= {"192.0.2.1", "192.0.2.250"}
    rows = bundle.read("csv/shop.logins.csv").decode("utf-8-sig").splitlines()
    assert len(rows) == LOGINS + 1
    text = " ".join(pdf_text(bundle.read("answer.pdf")).split())
    assert f"Rapporten visar de första 250 av {LOGINS} poster." in text
