"""The intake benchmark's server: the service as gunicorn runs it, plus one bare endpoint.

``gunicorn 'bench.wsgi:app'`` builds the app from the ``DSR_*`` environment exactly as
``app:create_app()`` does in production, then adds ``POST /bench/bare-insert``: a Flask view
that reads the same two fields a submission carries and stores them with one INSERT into
a bench-only table of the same database. It is the floor every real submission stands on
(the same server, worker model, WSGI stack, connection pool and database), which makes it
the baseline the intake rates are compared with. It exists only here, never in the service.
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func, insert

from dsr import create_app, csrf
from dsr.db import get_db

#: Kept apart from the service's metadata: migrations and models never see it.
metadata = MetaData()
bare_inserts = Table(
    "bench_bare_inserts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(254), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

BARE_PATH = "/bench/bare-insert"

app = create_app()

#: With DSR_BENCH_PROFILE=<directory>, each worker samples itself with pyinstrument from
#: start to exit and leaves its profile there (for finding what an intake costs).
_PROFILE_DIR = os.environ.get("DSR_BENCH_PROFILE")
if _PROFILE_DIR:
    from pyinstrument import Profiler

    _profiler = Profiler(interval=0.0005)
    _profiler.start()

    def _write_profile() -> None:
        _profiler.stop()
        out = Path(_PROFILE_DIR) / f"worker-{os.getpid()}"
        out.with_suffix(".txt").write_text(_profiler.output_text(show_all=False))
        out.with_suffix(".html").write_text(_profiler.output_html())

    atexit.register(_write_profile)


@app.post(BARE_PATH)
@csrf.exempt
def bare_insert() -> Any:
    from flask import request

    data: Any = request.get_json(silent=True) if request.is_json else request.form
    data = data or {}
    with get_db().engine.begin() as conn:
        conn.execute(
            insert(bare_inserts).values(
                name=str(data.get("name", ""))[:200], email=str(data.get("email", ""))[:254]
            )
        )
    return "", 201
