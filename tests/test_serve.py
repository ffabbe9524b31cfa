"""What `make run` does, as real processes: migrate, load the demo, serve.

One machine's set-up: the web server, the scheduler and (in development) the mail catcher
share one process, so a newcomer sees mail arrive without any SMTP server of their own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.support import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).parent / "flask"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def test_migrate_seed_and_serve_like_make_run(tmp_path):
    port, smtp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSR_")}
    env.update(
        DSR_ENV="development",
        DSR_DATABASE_URL=f"sqlite:///{tmp_path / 'dsr.sqlite3'}",
        DSR_DATA_DIR=str(tmp_path / "data"),
        DSR_PORT=str(port),
        DSR_BASE_URL=f"http://127.0.0.1:{port}",
        DSR_SMTP_HOST="127.0.0.1",
        DSR_SMTP_PORT=str(smtp_port),
        DSR_OUTBOX_POLL_SECONDS="1",
    )

    def flask(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(FLASK), "--app", "app", "dsr", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    migrated = flask("migrate")
    assert migrated.returncode == 0, migrated.stderr
    seeded = flask("seed-demo")
    assert seeded.returncode == 0, seeded.stderr
    assert "handler@example.com / dsr-demo-handler" in seeded.stdout

    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(FLASK), "--app", "app", "dsr", "serve"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        # The in-process scheduler beats: /healthz says so.
        def healthy() -> bool:
            status, body = get(f"{base}/healthz")
            return status == 200 and json.loads(body)["status"] == "ok"

        wait_until(healthy, timeout=60)
        status, page = get(f"{base}/")
        assert status == 200 and 'href="/request/access"' in page

        # The demo's queued emails go out through the in-process outbox job to the catcher.
        def mail_arrived() -> bool:
            status, body = get(f"{base}/dev/mailbox")
            return status == 200 and "DSR-" in body

        wait_until(mail_arrived, timeout=60)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    output = log.read_text(errors="replace")
    assert f"dsr is serving at {base}/" in output
    assert f"{base}/dev/mailbox" in output
