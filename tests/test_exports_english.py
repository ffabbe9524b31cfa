"""A subject who wrote in English gets the answer in English; the JSON's keys do not change.

Astrid files her access request on the web with the language set to English, confirms her
address, and the handler carries the request out and has the answer built, the same way as
the Swedish answers in ``test_exports_answer.py``. The PDF and the README are read as she
would read them; the JSON is compared, key by key, with the answer to the same request in
Swedish.
"""

import io
from typing import Any

import pytest
from pypdf import PdfReader

from dsr.db import utcnow
from dsr.exports.sample import carry_out, file_verified_request
from dsr.models import RequestStatus, Right
from tests.exports_support import (  # noqa: F401 - shop is a fixture
    build,
    document,
    opened,
    pdf_text,
    shop,
)

pytestmark = pytest.mark.usefixtures("shop")

#: What the Swedish answer says (as asserted in test_exports_answer.py), and its English.
PDF_WORDS = {
    "Svar på din begäran": "Answer to your request",
    "Det som lagen säger att du ska få veta": "What the law says you must be told",
    "Uppgifterna vi har om dig": "The data we have about you",
}
README_WORDS = {
    "Den här ZIP-filen innehåller vårt svar på din begäran": (
        "This ZIP file holds our answer to your request"
    ),
    "Frågor: ": "Questions: ",
}


def answered(db, app, language: str):
    request = file_verified_request(db, Right.access, language=language)
    carry_out(db, request)
    db.commit()
    export = build(db, app, request)
    return request, opened(app, export), document(app, export)


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key in a JSON value, as dotted paths (list items merged under ``[]``)."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths.add(path)
            paths |= key_paths(inner, path)
    elif isinstance(value, list):
        for item in value:
            paths |= key_paths(item, f"{prefix}[]")
    return paths


def test_an_english_request_gets_an_english_pdf_and_readme(db, app):
    request, bundle, _doc = answered(db, app, "en")
    assert request.language == "en"

    pdf = bundle.read("answer.pdf")
    text = " ".join(pdf_text(pdf).split())
    assert request.reference in text
    for swedish, english in PDF_WORDS.items():
        assert english in text
        assert swedish not in text
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    assert "Sida " not in text
    # Her data and the controller's own texts are shown as they are (in Swedish).
    assert "astrid.lindqvist@example.com" in text and "Exempelföretaget AB" in text

    readme = bundle.read("README.txt").decode("utf-8")
    assert f"Answer to request {request.reference} from Exempelföretaget AB" in readme
    assert "Svar på begäran" not in readme
    for swedish, english in README_WORDS.items():
        assert english in readme
        assert swedish not in readme
    assert "answer.pdf" in readme and "answer.json" in readme


def test_the_json_keys_are_the_same_in_either_language(db, app):
    english, _, in_english = answered(db, app, "en")
    # Her first request is closed before she asks again, in Swedish (an open one would
    # take the second in as a duplicate).
    english.status = RequestStatus.completed
    english.closed_at = utcnow()
    db.add(english)
    db.commit()
    _swedish, _, in_swedish = answered(db, app, "sv")
    assert (in_english["language"], in_swedish["language"]) == ("en", "sv")
    assert key_paths(in_english) == key_paths(in_swedish)
    # Codes stay codes: the right, the legal bases and the categories are not translated.
    assert in_english["request"]["right"] == in_swedish["request"]["right"] == "access"
    bases = {p["key"]: p["basis"] for p in in_english["information"]["purposes"]}
    assert bases == {p["key"]: p["basis"] for p in in_swedish["information"]["purposes"]}
    assert bases["newsletter"] == "consent"
    english_tables = [
        (t["table"], [f["column"] for f in t["fields"]], [f["category"] for f in t["fields"]])
        for s in in_english["data"]["sources"]
        for t in s["tables"]
    ]
    swedish_tables = [
        (t["table"], [f["column"] for f in t["fields"]], [f["category"] for f in t["fields"]])
        for s in in_swedish["data"]["sources"]
        for t in s["tables"]
    ]
    assert english_tables == swedish_tables and english_tables
