"""Helpers for the answer tests: a demo subject's executed right, the answer built, opened."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Flask
from pypdf import PdfReader
from sqlmodel import Session, select

from dsr.db import utcnow
from dsr.exports import SCHEMA_DIR, service
from dsr.exports.jobs import build_answers
from dsr.exports.sample import carry_out, file_verified_request
from dsr.models import Export, ExportState, Request, RequestPlan, Right
from tests.rights_support import HANDLER, NOW, demo_profile, profile_in

#: Every right, erasure last (it takes the subject's data away from the others).
RIGHTS = [
    Right.access,
    Right.portability,
    Right.rectification,
    Right.restriction,
    Right.objection,
    Right.consent_withdrawal,
    Right.human_review,
    Right.erasure,
]


def schema() -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / "answer-v1.json").read_text(encoding="utf-8"))


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


@pytest.fixture
def shop(app: Flask, db: Session, backend: str, databases: Any, tmp_path: Path, frozen_time: Any):
    """The default profile's demo shop, its clock stopped at the day it was built for."""
    frozen_time(NOW)
    with profile_in(app, demo_profile("default", backend, databases, tmp_path)) as profile:
        yield profile


def executed(db: Session, right: Right, **details: Any) -> tuple[Request, RequestPlan]:
    """Astrid's request for ``right``, filed, confirmed, planned and executed."""
    request = file_verified_request(db, right, **({"details": details} if details else {}))
    row = carry_out(db, request)
    db.commit()
    return request, row


def build(db: Session, app: Flask, request: Request) -> Export:
    """Make the request's answer and run the scheduler's job that builds it."""
    export = service.prepare(db, request, actor=HANDLER)
    db.commit()
    assert build_answers(db, utcnow(), app.config) == 1
    db.refresh(export)
    assert export.state == ExportState.ready, export.error
    return export


def answer_for(db: Session, app: Flask, right: Right, **details: Any) -> tuple[Request, Export]:
    request, _row = executed(db, right, **details)
    return request, build(db, app, request)


def opened(app: Flask, export: Export) -> zipfile.ZipFile:
    """The answer's ZIP, decrypted as the subject gets it."""
    with app.app_context(), service.open_plaintext(export, app.config) as plain:
        return zipfile.ZipFile(io.BytesIO(plain.read()))


def document(app: Flask, export: Export) -> dict[str, Any]:
    return json.loads(opened(app, export).read("answer.json"))


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def exports(db: Session, request: Request) -> list[Export]:
    db.expire_all()
    return list(db.exec(select(Export).where(Export.request_id == request.id)).all())


def iter_records(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for source in doc["data"]["sources"]:
        for table in source["tables"]:
            for record in table["records"]:
                yield table["table"], record
