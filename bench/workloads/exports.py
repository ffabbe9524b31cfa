"""Export memory: peak RSS of building a subject's answer, small against large.

Two subjects of the same shape, one with ``size.export_records[0]`` records and one with
``size.export_records[1]``, each get an access request carried out through the service.
Each run then prepares the answer as a handler does and starts a fresh process that runs
the scheduler's ``build_answers`` job: the sealed ZIP with the JSON document, a CSV file a
table and the PDF, as the subject downloads it. The process reports its peak resident set
size (``VmHWM``); the large export is compared with the small one.
"""

from __future__ import annotations

from bench import sourcedata
from bench.harness import Context, Figure, log
from bench.subject_child import (
    close_request,
    execute,
    file_request,
    plan_and_approve,
    prepare_export,
    run_child,
    runs,
    service,
)

TITLE = "Export memory"
#: Growth of the peak RSS from the small to the large export the target allows.
GROWTH = 1.20


def run(ctx: Context, notes: list[str]) -> list[Figure]:
    from dsr.models import Right

    db = sourcedata.build(ctx)
    svc = service(ctx, db)
    small, large = ctx.size.export_records
    requests: dict[int, int] = {}
    for records in (small, large):
        subject = sourcedata.add_subject(db, f"export-{records}", records)
        request_id = file_request(svc, Right.access, subject)
        plan_id, _planned = plan_and_approve(svc, request_id)
        execute(svc, plan_id)
        requests[records] = request_id

    rss: dict[int, list[float]] = {small: [], large: []}
    build: dict[int, list[float]] = {small: [], large: []}
    start: dict[int, list[float]] = {small: [], large: []}
    sizes: dict[int, int] = {}
    # The peak barely moves between runs; three of each keep the workload in its budget.
    for index in range(min(runs(ctx), 3)):
        for records in (small, large):
            export_id = prepare_export(svc, requests[records])
            report = run_child(ctx, svc, "export", export_id, ctx.workdir / "exports")
            log(
                f"export run {index}, {records:,} records: {report['build']:.1f} s, "
                f"peak {report['rss_peak']:.0f} MiB (after start-up {report['rss_start']:.0f})"
            )
            rss[records].append(report["rss_peak"])
            build[records].append(report["build"])
            start[records].append(report["rss_start"])
            sizes[records] = int(report["bytes"] or 0)
    for request_id in requests.values():
        close_request(svc, request_id)

    small_name = f"{small:,} records"
    figures = [
        Figure(TITLE, f"Peak RSS, {small_name}", "MiB", rss[small]),
        Figure(TITLE, f"Peak RSS, {large:,} records", "MiB", rss[large], rss[small],
               small_name, target=f"≤ {GROWTH:.2f}× the {small_name}",
               check=lambda f: (f.ratio or 0) <= GROWTH),
        Figure(TITLE, f"Build time, {small_name}", "s", build[small]),
        Figure(TITLE, f"Build time, {large:,} records", "s", build[large], build[small],
               small_name),
        Figure(TITLE, "RSS after start-up (imports, app)", "MiB", start[small] + start[large]),
    ]  # fmt: skip
    notes.append(
        f"Each export is built by the scheduler's job in a fresh process: the sealed ZIP of "
        f"{sizes.get(small, 0) / 1e6:.1f} MB and {sizes.get(large, 0) / 1e6:.1f} MB "
        f"(JSON, a CSV a table, PDF of at most {svc.app.config['EXPORTS_PDF_ROWS_PER_TABLE']} "
        "rows a table). The peak is the process's VmHWM, start-up included."
    )
    return figures
