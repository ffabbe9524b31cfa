"""A mailbox for development: a real SMTP server on this machine that keeps what it gets.

``flask --app app dsr serve`` starts it when ``mail.dev_mailbox`` is on (development only),
so a newcomer can file a request and read the acknowledgement, the code and the status link
at ``/dev/mailbox`` without a mail server. The service still sends over SMTP as in
production; only the receiving end is local.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

MAILBOX_DIR = "mailbox"


def mailbox_path(data_dir: str) -> Path:
    return Path(data_dir) / MAILBOX_DIR


class _Keeper:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        (self.directory / f"{stamp}.eml").write_bytes(envelope.content)
        return "250 Kept in the development mailbox"


def start(host: str, port: int, data_dir: str) -> Any:
    """Start the catcher in a thread; returns the controller (``.stop()`` to end it)."""
    from aiosmtpd.controller import Controller

    controller = Controller(_Keeper(mailbox_path(data_dir)), hostname=host, port=port)
    controller.start()
    return controller


@dataclass(frozen=True)
class Kept:
    name: str
    received_at: datetime
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return str(part.get_content()) if part is not None else ""


def messages(data_dir: str, limit: int = 100) -> list[Kept]:
    """The newest emails first."""
    directory = mailbox_path(data_dir)
    if not directory.is_dir():
        return []
    kept = []
    for path in sorted(directory.glob("*.eml"), reverse=True)[:limit]:
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        received = datetime.strptime(path.stem, "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
        kept.append(Kept(path.stem, received, parsed))
    return kept
