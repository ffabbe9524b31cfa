"""Answers the subject can keep: one JSON document, CSV files, a PDF report, in a ZIP.

- ``answer``: what an answer says, as plain data, from the executed plan.
- ``document``: the JSON document (``schema/answer-v1.json``) and CSV, written as records
  are read.
- ``pdf``: the report, rendered by WeasyPrint with nothing fetched from outside.
- ``bundle``: the ZIP, streamed.
- ``sealed``: the file at rest, AES-256-GCM in chunks.
- ``service``: prepare, build, release, download, with the audit trail; ``jobs``: the
  scheduler's ``build_answers``.
- ``sample``: the whole flow for a demo subject (``flask --app app dsr sample-answer``).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

#: Where the JSON Schemas of the answer document live (served at ``/schema/<name>``).
SCHEMA_DIR = Path(__file__).parent / "schema"


def init_app(app: Flask) -> None:
    """Access and portability requests are completed only once their answer was released."""
    from dsr import workflow
    from dsr.exports.service import completion_problem

    if completion_problem not in workflow.COMPLETION_CHECKS:
        workflow.COMPLETION_CHECKS.append(completion_problem)
