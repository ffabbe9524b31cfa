"""Intake: submissions per second through gunicorn, against a bare INSERT in the same server.

The service runs as in production (``gunicorn``, 2 sync workers, on a free loopback port)
on a fresh service database of the run's backend; ``wrk`` drives it from the same machine
with ``bench/intake.lua``, which makes every request a different person. Three kinds of
load take turns in each round, so that all three see the same machine state:

- the baseline, ``POST /bench/bare-insert`` (see ``bench.wsgi``): one INSERT of a name and
  an address;
- the public form ``POST /request/access`` as a visitor's browser sends it: the session
  cookie and CSRF token of one page load, reused for every submission;
- the API ``POST /api/v1/requests`` with a bearer token created by the service's own code.

Rate limits are raised so far through the settings that they count every submission (the
counter rows are written as always) but never refuse one. After each load the rows it
stored are counted; answers other than 2xx/3xx and socket errors are counted and reported,
and a load with errors is reported as such rather than as a clean rate.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine

from bench.harness import ROOT, Context, Figure, log

TITLE = "Intake"

LUA = ROOT / "bench" / "intake.lua"
FORM_PATH = "/request/access"
API_PATH = "/api/v1/requests"
BARE_PATH = "/bench/bare-insert"
#: High enough never to refuse within a run, so every submission is counted and filed.
NO_LIMIT = 1_000_000_000
WORKERS = 2
TARGET_SHARE = 0.5


@dataclass
class Load:
    """One wrk run against one endpoint."""

    kind: str
    requests: int
    seconds: float
    #: Answers with a status of 400 or more, and connect/read/write/timeout errors.
    bad_status: int
    socket_errors: int
    p50_ms: float
    p95_ms: float
    #: Rows the run added to the table it writes.
    stored: int

    @property
    def ok(self) -> int:
        return self.requests - self.bad_status

    @property
    def rate(self) -> float:
        """Successful answers per second."""
        return self.ok / self.seconds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """gunicorn serving ``bench.wsgi:app`` with the given environment."""

    def __init__(self, env: dict[str, str], logfile: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.logfile = logfile
        self._log = logfile.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(WORKERS),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--graceful-timeout",
                "30",
                "bench.wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.tail()}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s: {self.tail()}")

    def tail(self) -> str:
        self._log.flush()
        return self.logfile.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _visitor(base: str) -> tuple[str, str]:
    """Load the form as a browser does: the session cookie it sets and the CSRF token."""
    with urllib.request.urlopen(base + FORM_PATH, timeout=10) as answer:
        page = answer.read().decode()
        cookies = answer.headers.get_all("Set-Cookie") or []
    cookie = "; ".join(c.split(";", 1)[0] for c in cookies)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    if not cookie or match is None:
        raise RuntimeError("the form page gave no session cookie or CSRF token")
    return cookie, match.group(1)


def _post_once(base: str, path: str, body: bytes, headers: dict[str, str], expect: int) -> None:
    """One submission by hand, to fail early and clearly if the load would only get errors."""
    opener = urllib.request.build_opener(_NoRedirect)
    req = urllib.request.Request(base + path, data=body, headers=headers, method="POST")
    try:
        with opener.open(req, timeout=10) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    if status != expect:
        raise RuntimeError(f"POST {path} answered {status}, expected {expect}")


def _api_token(settings: dict[str, Any]) -> str:
    """A bearer token made the way ``flask dsr create-api-token`` makes one."""
    from dsr import apitokens, create_app
    from dsr.audit import Actor
    from dsr.db import get_db

    app = create_app(settings)
    with app.app_context():
        db = get_db()
        with db.transaction() as session:
            _row, token = apitokens.create(session, "bench-intake", actor=Actor.system("bench"))
        db.dispose()
    return token


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(text(table))).scalar_one())


class Loader:
    def __init__(self, ctx: Context, server: Server, engine: Engine, secrets: dict[str, str]):
        self.ctx = ctx
        self.server = server
        self.engine = engine
        self.secrets = secrets
        self.runs = 0

    def run(self, kind: str, seconds: float) -> Load:
        path, table = {
            "bare": (BARE_PATH, "bench_bare_inserts"),
            "form": (FORM_PATH, "requests"),
            "api": (API_PATH, "requests"),
        }[kind]
        self.runs += 1
        tag = f"r{self.runs}"
        extra = {
            "form": [self.secrets["cookie"], self.secrets["csrf"]],
            "api": [self.secrets["token"]],
            "bare": [],
        }[kind]
        before = _count(self.engine, table)
        command = [
            "wrk",
            "--threads",
            "1",
            "--connections",
            str(self.ctx.size.intake_connections),
            "--duration",
            f"{seconds:g}s",
            "--timeout",
            "10s",
            "--script",
            str(LUA),
            self.server.base + path,
            "--",
            kind,
            tag,
            *extra,
        ]
        out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK_RESULT ")), None)
        if out.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}{out.stderr}")
        result = json.loads(line.removeprefix("WRK_RESULT "))
        # Answers of submissions wrk gave up on at the end may still be arriving.
        time.sleep(0.3)
        stored = _count(self.engine, table) - before
        return Load(
            kind=kind,
            requests=int(result["requests"]),
            seconds=result["duration_us"] / 1e6,
            bad_status=int(result["status"]),
            socket_errors=sum(int(result[k]) for k in ("connect", "read", "write", "timeout")),
            p50_ms=result["p50_us"] / 1000,
            p95_ms=result["p95_us"] / 1000,
            stored=stored,
        )


def run(ctx: Context, notes: list[str]) -> list[Figure]:
    if shutil.which("wrk") is None:
        raise RuntimeError("the load generator wrk is missing: `make loadgen` installs it")
    size = ctx.size
    url = ctx.service_database("intake")
    engine = create_engine(url)
    from bench.wsgi import metadata

    metadata.create_all(engine)
    settings = ctx.settings(
        url,
        RATELIMIT_SUBMIT_PER_HOUR_IP=NO_LIMIT,
        RATELIMIT_SUBMIT_PER_DAY_EMAIL=NO_LIMIT,
    )
    secrets = {"token": _api_token(settings)}
    server = Server(ctx.env(settings), ctx.workdir / "gunicorn-intake.log")
    loads: dict[str, list[Load]] = {"bare": [], "form": [], "api": []}
    try:
        server.wait_ready()
        secrets["cookie"], secrets["csrf"] = _visitor(server.base)
        form = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": secrets["cookie"]}
        _post_once(
            server.base,
            FORM_PATH,
            urllib.parse.urlencode(
                {"csrf_token": secrets["csrf"], "name": "Eva Ek", "email": "eva.ek@example.se"}
            ).encode(),
            form,
            302,
        )
        _post_once(
            server.base,
            API_PATH,
            json.dumps(
                {"right": "access", "subject": {"name": "Ola Ek", "email": "ola.ek@example.se"}}
            ).encode(),
            {"Content-Type": "application/json", "Authorization": f"Bearer {secrets['token']}"},
            201,
        )
        _post_once(server.base, BARE_PATH, b"name=Ada+Ek&email=ada.ek%40example.se", form, 201)
        loader = Loader(ctx, server, engine, secrets)
        # Warm both workers up (imports, templates, connection pools) before measuring; a
        # run of a second or so (the tiny size) only checks that everything works.
        if size.intake_seconds > 1:
            for kind in loads:
                loader.run(kind, max(1, size.intake_seconds // 5))
        for round_no in range(size.repeat):
            for kind in loads:
                load = loader.run(kind, size.intake_seconds)
                loads[kind].append(load)
                log(
                    f"intake round {round_no + 1} {kind}: {load.rate:,.0f}/s, "
                    f"{load.ok} ok, {load.bad_status} bad, {load.socket_errors} socket errors, "
                    f"{load.stored} stored"
                )
    finally:
        server.stop()
        engine.dispose()

    return _figures(ctx, loads, notes)


def _figures(ctx: Context, loads: dict[str, list[Load]], notes: list[str]) -> list[Figure]:
    size = ctx.size
    bare = [load.rate for load in loads["bare"]]

    def share_met(figure: Figure) -> bool:
        return figure.ratio is not None and figure.ratio >= TARGET_SHARE

    figures = []
    for kind, name in (("form", "Public form submissions"), ("api", "API submissions")):
        runs = loads[kind]
        figures.append(
            Figure(
                TITLE,
                f"{name} per second",
                "req/s",
                [load.rate for load in runs],
                baseline=bare,
                baseline_name="bare INSERT endpoint",
                target="≥ 50 % of bare endpoint",
                check=share_met,
                higher_is_better=True,
            )
        )
    for kind, name in (("form", "Public form"), ("api", "API")):
        runs = loads[kind]
        figures.append(
            Figure(
                TITLE,
                f"{name} latency p50 under load",
                "ms",
                [load.p50_ms for load in runs],
                baseline=[load.p50_ms for load in loads["bare"]],
                baseline_name="bare INSERT endpoint",
            )
        )
        figures.append(
            Figure(
                TITLE,
                f"{name} latency p95 under load",
                "ms",
                [load.p95_ms for load in runs],
                baseline=[load.p95_ms for load in loads["bare"]],
                baseline_name="bare INSERT endpoint",
            )
        )

    notes.append(
        f"gunicorn with {WORKERS} sync workers on loopback; `wrk` with 1 thread and "
        f"{size.intake_connections} connections, {size.intake_seconds} s per load; each of "
        f"{size.repeat} rounds runs the bare endpoint, the form and the API in turn (after a "
        "short warm-up of each). Rates count successful answers (2xx/3xx) per second."
    )
    notes.append(
        "Form: one GET of the form gives a session cookie and CSRF token, which every "
        "submission then reuses, as one visitor's browser would; the answer is the 302 to "
        "the code page (not followed). API: JSON with a bearer token created through "
        "`dsr.apitokens`. Each submission has its own name and address (bench/intake.lua), "
        "the right is access. The bare endpoint (bench/wsgi.py) stores the same name and "
        "address with one INSERT into a bench-only table of the same database."
    )
    notes.append(
        "Rate limits `ratelimit.submit_per_hour_ip` and `ratelimit.submit_per_day_email` are "
        f"set to {NO_LIMIT:,}: every submission is still counted in the database, none is "
        "refused."
    )
    for kind, label in (("bare", "Bare endpoint"), ("form", "Form"), ("api", "API")):
        runs = loads[kind]
        answered = sum(load.requests for load in runs)
        ok = sum(load.ok for load in runs)
        stored = sum(load.stored for load in runs)
        bad = sum(load.bad_status for load in runs)
        errors = sum(load.socket_errors for load in runs)
        text_ = (
            f"{label}: {answered:,} answers in the measured runs, {ok:,} of them 2xx/3xx; "
            f"{stored:,} rows stored"
        )
        if bad or errors:
            text_ += f"; **{bad:,} error answers and {errors:,} socket errors**"
        else:
            text_ += "; no error answers or socket errors"
        notes.append(text_ + ".")
        if stored < ok:
            notes.append(
                f"**{label}: fewer rows stored ({stored:,}) than successful answers ({ok:,}).**"
            )
    if statistics.median(bare) == 0:
        notes.append("**The bare endpoint answered nothing successfully; ratios are void.**")
    return figures
