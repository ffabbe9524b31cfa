"""The access answer of a demo subject, compared whole with a committed snapshot.

With the clock stopped and the demo shop built the same way every time, Astrid's answer is
the same to the byte on SQLite and PostgreSQL; any change to the document shows up here as
a diff to review. After an intended change, refresh the snapshot and commit it:

    DSR_TEST_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_exports_snapshot.py

The test then writes the file and fails once, so a refresh is never silent.
"""

import os
from pathlib import Path

import pytest

from dsr.models import Right
from tests.exports_support import answer_for, opened, shop, validator  # noqa: F401 - fixture

SNAPSHOT = Path(__file__).parent / "snapshots" / "answer-access-default.json"
UPDATE = os.environ.get("DSR_TEST_UPDATE_SNAPSHOTS", "").strip() not in ("", "0", "no", "off")


@pytest.mark.usefixtures("shop")
def test_astrids_access_answer_matches_the_snapshot(app, db):
    _request, export = answer_for(db, app, Right.access)
    text = opened(app, export).read("answer.json").decode("utf-8")
    if UPDATE:
        SNAPSHOT.write_text(text, encoding="utf-8")
        raise AssertionError(f"snapshot written to {SNAPSHOT}; review and commit it")
    assert SNAPSHOT.exists(), "no snapshot yet: run with DSR_TEST_UPDATE_SNAPSHOTS=1"
    assert text == SNAPSHOT.read_text(encoding="utf-8")


def test_the_snapshot_is_a_valid_answer():
    import json

    assert validator().is_valid(json.loads(SNAPSHOT.read_text(encoding="utf-8")))
