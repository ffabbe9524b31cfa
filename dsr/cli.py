"""``flask --app app dsr ...``: operating the service from a shell."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import force_locale

from dsr import accounts, apitokens, audit, deadlines, migrate
from dsr.audit import Actor
from dsr.db import get_db
from dsr.deadlines import Regime
from dsr.models import Right, StaffRole

dsr_cli = AppGroup("dsr", help="Operate the data subject rights service.")


def register(app: Flask) -> None:
    app.cli.add_command(dsr_cli)


def _fail(message: Any, code: int = 1) -> NoReturn:
    """Print an error (in English: the operator's shell is not the subject's page) and exit."""
    with force_locale("en"):
        click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@dsr_cli.command("migrate")
@click.option("--revision", default="head", show_default=True)
def migrate_command(revision: str) -> None:
    """Apply database migrations (safe to run again)."""
    url = current_app.config["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        # A fresh checkout has no data_dir yet; SQLite creates the file, not its directory.
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(url, revision)
    click.echo(f"Database at revision {migrate.current_revision(url)}.")


@dsr_cli.command("make-migration")
@click.option("-m", "--message", required=True)
def make_migration(message: str) -> None:
    """Autogenerate a migration from the models (review it before committing)."""
    from alembic import command

    cfg = migrate.alembic_config(current_app.config["DATABASE_URL"])
    command.revision(cfg, message=message, autogenerate=True)


@dsr_cli.command("create-staff")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in StaffRole]), required=True)
@click.option("--name", default=None, help="Display name (defaults to the email's local part).")
def create_staff(email: str, role: str, name: str | None) -> None:
    """Create a staff account; the password is read from stdin (or prompted for)."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        with get_db().transaction() as session:
            user = accounts.create_staff(
                session,
                email,
                StaffRole(role),
                name=name,
                password=password,
                actor=Actor.system("cli"),
            )
            click.echo(f"Created {user.role} {user.email}.")
    except accounts.AccountError as exc:
        _fail(exc)


@dsr_cli.command("audit-verify")
def audit_verify() -> None:
    """Check the audit log's hash chain; exit 1 naming the first bad event."""
    with get_db().transaction() as session:
        problem = audit.verify_chain(session)
        if problem is None:
            from sqlalchemy import func, select

            from dsr.models import AuditEvent

            count = session.scalar(select(func.count()).select_from(AuditEvent))
            click.echo(f"Audit chain intact: {count} events.")
            return
    _fail(f"audit chain broken at {problem}")


@dsr_cli.command("due-date")
@click.argument("received")
@click.option("--extended", is_flag=True, help="Include the two-month extension.")
@click.option("--paused-days", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--regime", type=click.Choice([r.value for r in Regime]), default=None)
@click.option(
    "--eves/--no-eves", default=None, help="Treat midsommarafton, julafton, nyårsafton as closed."
)
def due_date(
    received: str, extended: bool, paused_days: int, regime: str | None, eves: bool | None
) -> None:
    """Print the legal due date of a request received at RECEIVED.

    RECEIVED is an ISO date (2026-03-05) or an ISO datetime with an offset
    (2026-01-31T23:30:00+00:00). The last line is the legal due date, YYYY-MM-DD.
    """
    config = current_app.config
    zone = ZoneInfo(config["TIMEZONE"])
    try:
        day = parse_received(received, zone)
    except ValueError as exc:
        _fail(str(exc), code=2)
    chosen = Regime(regime or config["DEADLINES_REGIME"])
    use_eves = config["DEADLINES_EVES_ARE_HOLIDAYS"] if eves is None else eves
    result = deadlines.due_for_date(
        day, regime=chosen, extended=extended, paused_days=paused_days, eves_are_holidays=use_eves
    )
    click.echo(f"received: {day.isoformat()} ({config['TIMEZONE']})")
    click.echo(f"regime: {chosen.value}{' (extended)' if extended else ''}")
    if paused_days:
        click.echo(f"paused: {paused_days} days")
    click.echo(f"unrolled due date: {result.target.isoformat()}")
    click.echo(result.legal.isoformat())


def parse_received(raw: str, zone: ZoneInfo) -> date:
    """An ISO date, or an ISO datetime with an offset turned into the local date."""
    raw = raw.strip()
    if len(raw) == 10:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a valid date (expected YYYY-MM-DD)") from None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"{raw!r} is neither an ISO date (YYYY-MM-DD) nor an ISO datetime with an offset"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{raw!r} has no UTC offset; add one, e.g. {raw}+01:00 or {raw}Z")
    return deadlines.received_date(moment, zone)


@dsr_cli.command("seed-demo")
def seed_demo() -> None:
    """Load demo data into an empty development database (a no-op otherwise)."""
    from dsr import demo

    if current_app.config["ENV"] != "development":
        _fail("demo data is only loaded with env = development")
    with get_db().transaction() as session:
        created = demo.seed(session, current_app.config)
        requests_made = demo.seed_requests(session, current_app.config) if created else 0
    if created:
        click.echo(f"Demo data loaded: staff accounts and {requests_made} requests on the queue.")
    for line in demo.seed_customer_systems(current_app.config):
        click.echo(line)
    click.echo(f"Demo staff (log in at {current_app.config['BASE_URL']}/staff/login):")
    for email, _name, role, password in demo.DEMO_STAFF:
        click.echo(f"  {role.value:<8} {email} / {password}")


@dsr_cli.command("serve")
def serve() -> None:
    """Serve the app for one machine, with the scheduler in-process (what `make run` does)."""
    from dsr import scheduler

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    host, port = app.config["HOST"], app.config["PORT"]
    background: Any = None
    catcher: Any = None
    if app.config["MAIL_DEV_MAILBOX"]:
        from dsr import devmail

        catcher = devmail.start(
            app.config["SMTP_HOST"], app.config["SMTP_PORT"], app.config["DATA_DIR"]
        )
        click.echo(f"Emails are kept in the development mailbox: http://{host}:{port}/dev/mailbox")
    if app.config["SCHEDULER_IN_PROCESS"]:
        background = scheduler.build(app, blocking=False)
        background.start()
    click.echo(f"dsr is serving at http://{host}:{port}/ (staff: http://{host}:{port}/staff/)")
    try:
        from werkzeug.serving import run_simple

        # Werkzeug directly: Flask's app.run() refuses to block inside a `flask` command.
        run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
    finally:
        if background is not None:
            background.shutdown(wait=False)
        if catcher is not None:
            catcher.stop()


@dsr_cli.command("scheduler")
def scheduler_command() -> None:
    """Run the scheduler in the foreground (production: one or more of these per deployment).

    SIGTERM and Ctrl-C stop it after the jobs that are running have finished.
    """
    import signal

    from dsr import scheduler

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    _log_to_stderr()
    runner = scheduler.build(app, blocking=True)

    def stop(_signum: int, _frame: Any) -> None:
        click.echo("Scheduler stopping after the running jobs.")
        runner.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"Scheduler {scheduler.INSTANCE} starting.")
    runner.start()
    click.echo(f"Scheduler {scheduler.INSTANCE} stopped.")


@dsr_cli.command("run-jobs")
def run_jobs() -> None:
    """Run every job that is due once and exit (for cron and tests); exit 1 if one failed.

    Daily jobs are due from scheduler.daily_hour local time on; each does its work once a
    day, so running this every few minutes is fine.
    """
    from dsr import scheduler

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    _log_to_stderr()
    results = scheduler.run_due_jobs(app)
    for spec in scheduler.job_specs(app.config):
        if spec.id not in results:
            click.echo(f"{spec.id}: not yet (daily, from {app.config['SCHEDULER_DAILY_HOUR']}:00)")
            continue
        done = results[spec.id]
        click.echo(f"{spec.id}: {'FAILED' if done < 0 else done}")
    if any(done < 0 for done in results.values()):
        sys.exit(1)


def _log_to_stderr() -> None:
    """Job logs (what each run did, failures) for a process that runs in the foreground."""
    import logging

    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    # APScheduler reports every run, and a run skipped because the previous one is still
    # going; neither matters for jobs that poll. Failures are logged by dsr.scheduler.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


@dsr_cli.command("create-api-token")
@click.argument("name")
def create_api_token(name: str) -> None:
    """Create a bearer token NAME for a trusted system; the token is printed once."""
    try:
        with get_db().transaction() as session:
            row, token = apitokens.create(session, name, actor=Actor.system("cli"))
            created = row.name
    except apitokens.ApiTokenError as exc:
        _fail(exc)
    click.echo(f"Created API token {created!r}. It is shown only now; store it safely:")
    click.echo(token)


@dsr_cli.command("revoke-api-token")
@click.argument("name")
def revoke_api_token(name: str) -> None:
    """Revoke the token NAME at once; calls with it get 401 from now on."""
    try:
        with get_db().transaction() as session:
            apitokens.revoke(session, name, actor=Actor.system("cli"))
    except apitokens.ApiTokenError as exc:
        _fail(exc)
    click.echo(f"Revoked API token {name!r}.")


@dsr_cli.command("list-api-tokens")
def list_api_tokens() -> None:
    """Name, first characters, creation, last filing and revocation of every token."""
    with get_db().transaction() as session:
        for row in apitokens.listing(session):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
            click.echo(
                f"{row.name}\t{row.prefix}…\tcreated {row.created_at:%Y-%m-%d}\t"
                f"last filed {used}\t{state}"
            )


@dsr_cli.command("suppression-export")
@click.argument("output", type=click.Path(dir_okay=False, allow_dash=True), default="-")
def suppression_export(output: str) -> None:
    """Write the suppression list (keyed hashes of addresses) as CSV, for marketing tools."""
    from dsr import suppression

    with get_db().transaction() as session:
        text = suppression.export_csv(session, actor=Actor.system("cli"))
    if output == "-":
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"Wrote {text.count(chr(10)) - 1} entries to {output}.")


@dsr_cli.command("suppression-key")
def suppression_key() -> None:
    """Print the key marketing tools use to check addresses against the suppression list."""
    from dsr import suppression

    click.echo(suppression.tool_key())
    click.echo(
        "Keep it with the tools that check addresses: it checks this list and opens nothing else.",
        err=True,
    )


@dsr_cli.command("suppression-check")
@click.argument("address")
def suppression_check(address: str) -> None:
    """Say whether an address is on the suppression list (exit 1 if it is)."""
    from dsr import suppression

    with get_db().transaction() as session:
        listed = suppression.is_suppressed(session, address)
    click.echo("listed: send no direct marketing" if listed else "not listed")
    if listed:
        sys.exit(1)


@dsr_cli.command("sample-answer")
@click.option("--profile", "profile_key", required=True, help="A profile in examples/profiles/.")
@click.option(
    "--right",
    "right_value",
    type=click.Choice([r.value for r in Right]),
    default=None,
    help="One right; without it, every right the profile offers.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for <right>.json, <right>.pdf and <right>.zip.",
)
def sample_answer(profile_key: str, right_value: str | None, out_dir: Path) -> None:
    """Write sample answers for the demo subject Astrid Lindqvist of a profile.

    Runs the whole flow on a fresh, temporary demo service (its own SQLite database and demo
    customer systems, never the configured ones): the request filed on the web form, the
    email confirmed with the emailed code, the plan made, approved and executed, the answer
    built by the scheduler's job and released.
    """
    from dsr.exports.sample import SampleError, write_samples
    from dsr.profiles import ProfileError

    rights = [Right(right_value)] if right_value else None
    try:
        written = write_samples(profile_key, rights, out_dir, base_config=current_app.config)
    except (SampleError, ProfileError) as exc:
        _fail(exc)
    for files in written:
        click.echo(
            f"{files.right.value}: {files.reference} -> {files.json}, {files.pdf}, {files.bundle}"
        )
