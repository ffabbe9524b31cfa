"""The service side of the subject workloads, and the child process that measures memory.

The parent (a workload) files a subject's request the way the web form does, confirms the
email address with the emailed code, and plans, approves and executes it through
``dsr.rights.service``. What must be measured for memory runs in a fresh process started
with ``python -m bench.subject_child <mode> <request or export id>`` and the service's
settings in ``DSR_*`` variables; it prints one JSON line with its timings and its peak
resident set size (``VmHWM``), the high-water mark of exactly that process.

Modes:

``answer``
    Locate the subject (``dsr.sources.locate``), build the answer from the executed plan
    and write its JSON document (``dsr.exports.document``), then its PDF
    (``dsr.exports.pdf``), each timed. Locate and JSON are done once untimed-apart first
    (reported whole as ``cold``), as the long-running scheduler would have done before.
``export``
    Run the scheduler's ``build_answers`` job on the export prepared for the request: the
    sealed ZIP with JSON, CSV and PDF the subject downloads.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from bench.harness import ROOT, Context
from bench.sourcedata import CustomerDatabase, Subject


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB (Linux ``VmHWM``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the parent's side -------------------------------------------------------------------------


def runs(ctx: Context) -> int:
    """Measured runs: the size's, but one on ``tiny``, where only working matters (every
    run starts a process that imports the whole service and WeasyPrint)."""
    return 1 if ctx.size.name == "tiny" else ctx.size.repeat


@dataclass
class Service:
    url: str
    settings: dict[str, Any]
    app: Flask


def service(ctx: Context, db: CustomerDatabase) -> Service:
    """The service database the subject workloads share, with the customer database's
    profile; made once per run."""
    existing = ctx.shared.get("subject_service")
    if existing is not None:
        return existing
    url = ctx.service_database("subjects")
    settings = ctx.settings(url, PROFILE=str(db.profile_path))
    made = Service(url, settings, ctx.make_app(url, **{k: v for k, v in settings.items()}))
    ctx.shared["subject_service"] = made
    return made


def file_request(svc: Service, right: Any, subject: Subject) -> int:
    """The subject's request filed on the web form and its email confirmed: its id."""
    from dsr.db import get_db
    from dsr.exports.sample import file_verified_request

    with svc.app.app_context(), get_db(svc.app).transaction() as session:
        return int(
            file_verified_request(session, right, name=subject.name, email=subject.email).id or 0
        )


def plan_and_approve(svc: Service, request_id: int) -> tuple[int, float]:
    """Plan the request and approve the plan: (plan id, seconds the planning took)."""
    from dsr.audit import Actor
    from dsr.db import get_db
    from dsr.models import Request
    from dsr.rights import service as plans

    actor = Actor.system("bench")
    with svc.app.app_context(), get_db(svc.app).transaction() as session:
        request = session.get(Request, request_id)
        assert request is not None
        started = time.perf_counter()
        row = plans.make_plan(session, request, actor=actor)
        planned = time.perf_counter() - started
        plans.approve(session, row, actor=actor)
        return int(row.id or 0), planned


def execute(svc: Service, plan_id: int) -> tuple[float, dict[str, Any]]:
    """Run the approved plan (after an erasure's grace period): (seconds, stored outcome)."""
    from dsr.audit import Actor
    from dsr.db import get_db, utcnow
    from dsr.models import PlanState, RequestPlan
    from dsr.rights import service as plans

    actor = Actor.system("bench")
    with svc.app.app_context(), get_db(svc.app).transaction() as session:
        row = session.get(RequestPlan, plan_id)
        assert row is not None
        now = utcnow()
        if row.execute_after is not None:
            now = max(now, row.execute_after + timedelta(minutes=1))
        started = time.perf_counter()
        plans.execute(session, row, actor=actor, now=now)
        seconds = time.perf_counter() - started
        if row.state != PlanState.executed or row.outcome is None:
            raise RuntimeError(f"the plan did not run: {row.error}")
        return seconds, dict(row.outcome)


def close_request(svc: Service, request_id: int) -> None:
    """Close the request, so that the next one for the same subject is a new request."""
    from dsr import workflow
    from dsr.audit import Actor
    from dsr.db import get_db
    from dsr.models import CloseReason, Request

    with svc.app.app_context(), get_db(svc.app).transaction() as session:
        request = session.get(Request, request_id)
        assert request is not None
        if request.is_open:
            workflow.close_as(
                session,
                request,
                reason=CloseReason.duplicate,
                note="Measured; the next run files the request again.",
                actor=Actor.system("bench"),
            )


def prepare_export(svc: Service, request_id: int) -> int:
    """Ask for the request's answer, as a handler does: the export row's id."""
    from dsr.audit import Actor
    from dsr.db import get_db
    from dsr.exports import service as answers
    from dsr.models import Request

    with svc.app.app_context(), get_db(svc.app).transaction() as session:
        request = session.get(Request, request_id)
        assert request is not None
        return int(answers.prepare(session, request, actor=Actor.system("bench")).id or 0)


def run_child(ctx: Context, svc: Service, mode: str, ident: int, out: Path) -> dict[str, Any]:
    """Run one measurement in a fresh process and return what it reported."""
    out.mkdir(parents=True, exist_ok=True)
    env = ctx.env(svc.settings)
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "bench.subject_child", mode, str(ident), str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{mode} child failed:\n{result.stderr[-4000:]}")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return dict(json.loads(lines[-1]))


# --- the child's side --------------------------------------------------------------------------


def _answer(app: Flask, request_id: int, out: Path) -> dict[str, Any]:
    from dsr.db import get_db, utcnow
    from dsr.exports import document, pdf
    from dsr.exports.answer import build_answer
    from dsr.models import Request
    from dsr.rights.base import Environment
    from dsr.rights.service import executed_plan
    from dsr.sources.locate import identities_for_request, locate

    report: dict[str, Any] = {"rss_start": peak_rss_mib()}
    with app.app_context(), get_db(app).transaction() as session:
        env = Environment.current()
        request = session.get(Request, request_id)
        assert request is not None
        row = executed_plan(session, request)
        assert row is not None
        identities = identities_for_request(request).verified

        # The scheduler that builds answers is a long-running process: one pass first, so
        # the timed one finds SQLAlchemy's statement cache and the driver's types warm, as
        # the service's would be. Peak memory counts both passes.
        started = time.perf_counter()
        warm = locate(env.profile, identities, data_dir=env.data_dir)
        del warm
        with (out / "warm-up.json").open("w", encoding="utf-8", newline="") as target:
            document.write_json(
                build_answer(
                    session, request, row, env, now=utcnow(), base_url=str(env.config["BASE_URL"])
                ),
                target,
            )
        report["cold"] = time.perf_counter() - started
        (out / "warm-up.json").unlink()
        gc.collect()

        started = time.perf_counter()
        found = locate(env.profile, identities, data_dir=env.data_dir)
        report["locate"] = time.perf_counter() - started
        report["located"] = found.record_count
        del found
        report["rss_locate"] = peak_rss_mib()

        started = time.perf_counter()
        answer = build_answer(
            session, request, row, env, now=utcnow(), base_url=str(env.config["BASE_URL"])
        )
        with (out / "answer.json").open("w", encoding="utf-8", newline="") as target:
            document.write_json(answer, target)
        report["json"] = time.perf_counter() - started
        report["records"] = answer.record_count
        report["json_bytes"] = (out / "answer.json").stat().st_size
        report["rss_json"] = peak_rss_mib()

        started = time.perf_counter()
        data = pdf.render_pdf(answer, int(env.config["EXPORTS_PDF_ROWS_PER_TABLE"]))
        (out / "answer.pdf").write_bytes(data)
        report["pdf"] = time.perf_counter() - started
        report["pdf_bytes"] = len(data)
    report["rss_peak"] = peak_rss_mib()
    return report


def _export(app: Flask, export_id: int) -> dict[str, Any]:
    from dsr.db import get_db, utcnow
    from dsr.exports.jobs import build_answers
    from dsr.models import Export, ExportState

    report: dict[str, Any] = {"rss_start": peak_rss_mib()}
    with app.app_context(), get_db(app).transaction() as session:
        started = time.perf_counter()
        built = build_answers(session, utcnow(), app.config)
        report["build"] = time.perf_counter() - started
        export = session.get(Export, export_id)
        assert export is not None
        if built != 1 or export.state != ExportState.ready:
            raise RuntimeError(f"the answer was not built: {export.error}")
        report["bytes"] = export.size_bytes
    report["rss_peak"] = peak_rss_mib()
    return report


def main(argv: list[str]) -> int:
    mode, ident, out = argv[0], int(argv[1]), Path(argv[2])
    from dsr import create_app

    app = create_app()
    if mode == "answer":
        report = _answer(app, ident, out)
    elif mode == "export":
        report = _export(app, ident)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main(sys.argv[1:]))
