"""The ZIP file the subject downloads: JSON, CSV per table, the PDF, and a README.

:func:`write_bundle` streams the ZIP into any writable binary stream (in practice a
:class:`~dsr.exports.sealed.SealedWriter`, which encrypts it as it goes): each member is
compressed and written while its content is produced, so neither the ZIP nor any member is
ever whole in memory, except the PDF, whose rows are capped.

=======================  ==========================================================
member                   what
=======================  ==========================================================
``README.txt``           what the files are, in the subject's language
``answer.json``          the whole answer (``schema/answer-v1.json``)
``answer.pdf``           the report for people (long tables cut, see ``dsr.exports.pdf``)
``csv/<source>.<table>.csv``  every record of one table (access and portability)
=======================  ==========================================================
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from flask import render_template
from flask_babel import force_locale

from dsr.exports import document, pdf
from dsr.exports.answer import Answer
from dsr.i18n import local_zone

README_NAME = "README.txt"
JSON_NAME = "answer.json"
PDF_NAME = "answer.pdf"


@dataclass
class Progress:
    """Counts the records written in the bundle's passes and reports a percentage.

    The JSON and CSV passes each read every record; together they are most of the work, so
    the percentage is records written over twice the total, held below 100 until the PDF
    and the ZIP's directory are written too.
    """

    total_records: int
    report: Callable[[int], None] | None = None
    written: int = 0
    percent: int = 0

    def record(self) -> None:
        self.written += 1
        work = max(1, 2 * self.total_records)
        self.set(min(90, 5 + 85 * self.written // work))

    def set(self, percent: int) -> None:
        if percent != self.percent:
            self.percent = percent
            if self.report is not None:
                self.report(percent)


@dataclass
class BundleContents:
    """What went into the ZIP: member names and the rows per CSV file."""

    members: list[str] = field(default_factory=list)
    csv_rows: dict[str, int] = field(default_factory=dict)


def readme(answer: Answer, contents: BundleContents, rows_per_table: int) -> str:
    with force_locale(answer.language):
        return render_template(
            "exports/README.txt",
            reference=answer.request["reference"],
            controller=answer.controller,
            right=answer.right.value,
            csv_files=[n for n in contents.members if n.startswith("csv/")],
            tables=answer.tables,
            rows_per_table=rows_per_table,
            capped=any(t.record_count > rows_per_table for t in answer.tables),
            generated_at=answer.generated_at,
        )


def write_bundle(
    answer: Answer,
    target: IO[bytes],
    *,
    rows_per_table: int = pdf.DEFAULT_ROWS_PER_TABLE,
    progress: Progress | None = None,
) -> BundleContents:
    """Write the answer's ZIP into ``target`` (which need not be seekable)."""
    progress = progress or Progress(answer.record_count)
    contents = BundleContents()
    made = answer.generated_at.astimezone(local_zone()).timetuple()[:6]

    def member(name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=made)
        info.compress_type = zipfile.ZIP_DEFLATED
        return info

    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with _text_member(archive, member(JSON_NAME)) as text:
            document.write_json(answer, text, progress.record)
        contents.members.append(JSON_NAME)
        for table in answer.tables:
            name = document.csv_name(table)
            with _text_member(archive, member(name)) as text:
                contents.csv_rows[name] = document.write_csv(
                    table, text, answer.language, progress.record
                )
            contents.members.append(name)
        progress.set(92)
        archive.writestr(member(PDF_NAME), pdf.render_pdf(answer, rows_per_table))
        contents.members.append(PDF_NAME)
        progress.set(97)
        about = readme(answer, contents, rows_per_table)
        archive.writestr(member(README_NAME), about.encode("utf-8"))
        contents.members.insert(0, README_NAME)
    return contents


def _text_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> io.TextIOWrapper:
    # force_zip64: the size is not known in advance and may pass 4 GiB.
    raw = archive.open(info, "w", force_zip64=True)
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")
