"""Run the erasure job in a process of its own, and freeze at a chosen moment.

Used by test_rights_erasure_crash: the test kills this process with SIGKILL while it is
frozen, in the middle of an erasure. The moment is "source batch N has been committed, and
the service's record of it has not": the worst place for a crash.

    python tests/erasure_child.py DATABASE_URL DATA_DIR PROFILE_PATH MARKER_FILE N
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event


def main(database_url: str, data_dir: str, profile: str, marker: str, freeze_after: int) -> None:
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from dsr import create_app
    from dsr.db import get_db, utcnow
    from dsr.rights.jobs import run_due_erasures
    from tests.conftest import TEST_SECRET

    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": TEST_SECRET,
            "DATABASE_URL": database_url,
            "DATA_DIR": data_dir,
            "PROFILE": profile,
            "ERASURE_BATCH_SIZE": 100,
            "MAIL_DEV_MAILBOX": False,
        }
    )
    own = get_db(app)
    writes = {"committed": 0}

    @event.listens_for(Engine, "before_cursor_execute")
    def note_writes(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("DELETE", "UPDATE")):
            conn.info["wrote"] = True

    @event.listens_for(Engine, "commit")
    def on_commit(conn: Any) -> None:
        if conn.engine is not own.engine:
            if conn.info.pop("wrote", False):
                writes["committed"] += 1
            return
        if writes["committed"] >= freeze_after:
            # The source has committed the batch; the service's checkpoint is about to.
            Path(marker).write_text(str(writes["committed"]))
            while True:
                time.sleep(60)

    with app.app_context(), own.transaction() as session:
        run_due_erasures(session, utcnow(), app.config)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
