"""Keep personal data and secrets out of log files.

Installed as a log record factory, so it applies to every logger (the access log included):
personnummer-like digit groups lose their last four digits, and secrets in URLs (status,
verification and invitation links) are replaced by a marker.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# 6 or 8 digits, an optional - or +, then 4 digits: YYMMDD-NNNN, YYYYMMDDNNNN, ...
_PNR = re.compile(r"(?<!\d)(\d{6}|\d{8})([-+]?)(\d{4})(?!\d)")
# Secrets travel as the last path segment of a few routes, or as ?token= / ?code=.
_URL_SECRET = re.compile(r"(/(?:status|verify|invite|download)/)[A-Za-z0-9_\-]{16,}")
_QUERY_SECRET = re.compile(r"([?&](?:token|code|key)=)[^&\s\"']+")


def mask(text: str) -> str:
    text = _PNR.sub(lambda m: f"{m.group(1)}{m.group(2)}****", text)
    text = _URL_SECRET.sub(r"\1[secret]", text)
    return _QUERY_SECRET.sub(r"\1[secret]", text)


_installed = False


def install() -> None:
    """Mask every log record from now on (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not lose the record
            return record
        record.msg = mask(message)
        record.args = None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
