"""Secrets at rest: keyed hashes for tokens and codes, encryption for personal data.

All keys derive from ``secret_key`` with HKDF under a distinct label per use, so a key leaked
for one purpose opens nothing else. Answer files may use their own ``export_key`` instead
(:func:`export_master_key`), which lets an operator rotate the session secret without
losing answers in flight.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

#: Encryption label of a subject's personnummer (``Request.subject_pnr_encrypted``).
PNR_LABEL = "pnr"

__all__ = ["InvalidToken", "keyed_hash", "encrypt", "decrypt", "new_token", "new_code"]


@lru_cache(maxsize=64)
def derive_key(secret_key: str, label: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"dsr", info=label.encode()).derive(
        secret_key.encode()
    )


def _secret() -> str:
    return str(current_app.config["SECRET_KEY"])


def keyed_hash(value: str, label: str = "token", secret_key: str | None = None) -> str:
    """HMAC-SHA256 hex digest: tokens, codes, personnummer and IP addresses at rest.

    A plain hash of a six-digit code could be reversed by trying all million codes; a keyed
    hash cannot without the server's secret.
    """
    key = derive_key(secret_key or _secret(), f"hmac:{label}")
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def hashes_match(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


@lru_cache(maxsize=16)
def _fernet(key: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(key))


def fernet_for(label: str, secret_key: str | None = None) -> Fernet:
    """Fernet for short values (personnummer, queued emails); answer files are sealed in
    chunks instead, with :func:`export_master_key` (``dsr.exports.sealed``)."""
    return _fernet(derive_key(secret_key or _secret(), f"fernet:{label}"))


def export_master_key(config: Mapping[str, Any] | None = None) -> bytes:
    """The 32-byte key that seals answer files (``dsr.exports.sealed``).

    ``export_key`` (DSR_EXPORT_KEY: 32 random bytes in url-safe base64, the format a Fernet
    key has) when set, otherwise derived from ``secret_key``. Each file then gets its own key
    from this one and a random salt.
    """
    config = config if config is not None else current_app.config
    configured = config.get("EXPORT_KEY")
    if configured:
        raw = configured.encode() if isinstance(configured, str) else bytes(configured)
        try:
            key = base64.urlsafe_b64decode(raw)
        except (ValueError, TypeError):
            raise ValueError("export_key must be url-safe base64") from None
        if len(key) != 32:
            raise ValueError("export_key must hold 32 bytes (44 characters of base64)")
        return key
    return derive_key(str(config["SECRET_KEY"]), "export-files")


def encrypt(plaintext: str, label: str) -> str:
    return fernet_for(label).encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str, label: str) -> str:
    return fernet_for(label).decrypt(ciphertext.encode()).decode()


def new_token(nbytes: int = 32) -> str:
    """An unguessable URL-safe token (256 bits by default)."""
    return secrets.token_urlsafe(nbytes)


def new_code() -> str:
    """A six-digit code for people to type."""
    return f"{secrets.randbelow(1_000_000):06d}"
