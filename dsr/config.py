"""Configuration: defaults in code, then ``config.toml``, then ``DSR_*`` environment variables.

Every setting has a dotted name (``smtp.host``). In ``config.toml`` the part before the dot
is a table (``[smtp]`` / ``host = ...``); in the environment it is ``DSR_SMTP_HOST``; in the
Flask config it is ``SMTP_HOST``. Values from the environment are parsed to the setting's
type. Unknown keys are reported (logged and kept in ``CONFIG_WARNINGS``) rather than
silently ignored, because a misspelt key usually means a setting the operator believes is
active is not.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent

#: Shipped so that a fresh checkout runs; refused anywhere but development.
DEVELOPMENT_SECRET_KEY = "dev-only-secret-key-do-not-use-in-production"  # noqa: S105

ENV_PREFIX = "DSR_"
#: Environment variables with the prefix that are not settings.
META_ENV = {"DSR_CONFIG"}
META_ENV_PREFIXES = ("DSR_TEST_", "DSR_BENCH_")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _parse_int_list(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip()]


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    kind: type
    secret: bool = False

    @property
    def flask_key(self) -> str:
        return self.name.replace(".", "_").upper()

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.flask_key

    def coerce(self, value: Any, origin: str) -> Any:
        if value is None:
            return None
        try:
            if self.kind is bool:
                if isinstance(value, bool):
                    return value
                if isinstance(value, str):
                    return _parse_bool(value)
                raise ValueError(f"expected true or false, got {value!r}")
            if self.kind is int:
                if isinstance(value, bool):
                    raise ValueError("expected a whole number")
                return int(value)
            if self.kind is float:
                return float(value)
            if self.kind is list:
                if isinstance(value, str):
                    return _parse_int_list(value)
                return [int(v) for v in value]
            if self.kind is str:
                if not isinstance(value, str):
                    raise ValueError(f"expected text, got {value!r}")
                return value
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{origin}: {self.name} is invalid: {exc}") from None
        raise ConfigError(f"{self.name}: unsupported setting type {self.kind}")  # pragma: no cover


#: Every setting the service knows. ``config.toml`` documents each of them.
SETTINGS: tuple[Setting, ...] = (
    Setting("env", "production", str),
    Setting("secret_key", DEVELOPMENT_SECRET_KEY, str, secret=True),
    Setting("database_url", "", str, secret=True),
    Setting("base_url", "", str),
    Setting("host", "127.0.0.1", str),
    Setting("port", 5000, int),
    Setting("proxy.trusted_hops", 0, int),
    Setting("data_dir", "instance", str),
    Setting("profile", "default", str),
    Setting("default_language", "sv", str),
    Setting("timezone", "Europe/Stockholm", str),
    Setting("export_key", "", str, secret=True),
    Setting("smtp.host", "127.0.0.1", str),
    Setting("smtp.port", 25, int),
    Setting("smtp.user", "", str),
    Setting("smtp.password", "", str, secret=True),
    Setting("smtp.security", "none", str),
    Setting("smtp.timeout", 10.0, float),
    Setting("mail.from", "dsr@localhost", str),
    Setting("mail.privacy_team", "privacy@localhost", str),
    Setting("mail.dev_mailbox", False, bool),
    Setting("deadlines.regime", "gdpr", str),
    Setting("deadlines.eves_are_holidays", False, bool),
    Setting("deadlines.late_pause_days", 7, int),
    Setting("deadlines.due_soon_days", 5, int),
    Setting("verification.token_hours", 24, int),
    Setting("verification.max_attempts", 5, int),
    Setting("verification.unverified_expiry_days", 14, int),
    Setting("verification.resend_per_hour", 3, int),
    Setting("ratelimit.submit_per_hour_ip", 10, int),
    Setting("ratelimit.submit_per_day_email", 5, int),
    Setting("ratelimit.verify_per_hour_ip", 30, int),
    Setting("ratelimit.verify_per_hour_email", 20, int),
    Setting("ratelimit.resend_per_hour_ip", 10, int),
    Setting("ratelimit.reply_per_hour", 10, int),
    Setting("login.max_failures", 5, int),
    Setting("login.lockout_minutes", 15, int),
    Setting("scheduler.in_process", True, bool),
    Setting("scheduler.daily_hour", 7, int),
    Setting("scheduler.reminder_days", [7, 3, 1], list),
    Setting("scheduler.heartbeat_seconds", 30, int),
    Setting("scheduler.stale_after_minutes", 5, int),
    Setting("scheduler.poll_seconds", 300, int),
    Setting("outbox.max_attempts", 8, int),
    Setting("outbox.batch_size", 50, int),
    Setting("outbox.poll_seconds", 15, int),
    Setting("outbox.claim_seconds", 300, int),
    Setting("retention.closed_request_years", 3, int),
    Setting("exports.link_days", 14, int),
    Setting("exports.code_minutes", 30, int),
    Setting("exports.pdf_rows_per_table", 250, int),
    Setting("erasure.grace_hours", 24, int),
    Setting("erasure.batch_size", 500, int),
    Setting("portability.timeout_seconds", 20.0, float),
    Setting("portability.ca_file", "", str),
    Setting("portability.allow_private_addresses", False, bool),
    Setting("staff.invite_hours", 72, int),
    Setting("staff.page_size", 50, int),
    Setting("eid.issuer", "", str),
    Setting("eid.client_id", "", str),
    Setting("eid.client_secret", "", str, secret=True),
    Setting("eid.scopes", "openid https://id.oidc.se/scope/naturalPersonNumber", str),
    Setting("eid.acr_values", "", str),
    Setting("eid.personnummer_claim", "https://id.oidc.se/claim/personalIdentityNumber", str),
    Setting("eid.coordination_number_claim", "https://id.oidc.se/claim/coordinationNumber", str),
    Setting("staff_sso.issuer", "", str),
    Setting("staff_sso.client_id", "", str),
    Setting("staff_sso.client_secret", "", str, secret=True),
    Setting("staff_sso.scopes", "openid email", str),
    Setting("staff_sso.name", "", str),
    Setting("staff_sso.local_passwords", True, bool),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
BY_ENV: dict[str, Setting] = {s.env_var: s for s in SETTINGS}

KNOWN_ENVS = {"development", "testing", "production"}
SMTP_SECURITY = {"none", "starttls", "ssl"}
LANGUAGES = ("sv", "en")
REGIMES = {"gdpr", "ccpa"}


def _flatten_toml(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in BY_NAME:
            flat.update(_flatten_toml(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load(
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the effective configuration as Flask config keys.

    ``overrides`` take Flask-style keys (``SMTP_PORT``) and win over everything; tests use
    them. Raises :class:`ConfigError` for anything that cannot be used.
    """
    environ = os.environ if environ is None else environ
    warnings: list[str] = []
    values: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    origins: dict[str, str] = {s.name: "default" for s in SETTINGS}

    if config_path is None:
        config_path = Path(environ.get("DSR_CONFIG", ROOT / "config.toml"))
    if config_path.exists():
        for name, raw in _flatten_toml(read_toml(config_path)).items():
            setting = BY_NAME.get(name)
            if setting is None:
                warnings.append(f"{config_path.name}: unknown key {name!r} ignored")
                continue
            values[name] = setting.coerce(raw, config_path.name)
            origins[name] = config_path.name
    elif "DSR_CONFIG" in environ:
        raise ConfigError(f"DSR_CONFIG points at {config_path}, which does not exist")

    for var, raw in environ.items():
        if not var.startswith(ENV_PREFIX) or var in META_ENV:
            continue
        if var.startswith(META_ENV_PREFIXES):
            continue
        setting = BY_ENV.get(var)
        if setting is None:
            warnings.append(f"environment: unknown variable {var} ignored")
            continue
        values[setting.name] = setting.coerce(raw, var)
        origins[setting.name] = var

    config = {BY_NAME[name].flask_key: value for name, value in values.items()}
    config_origins = {BY_NAME[name].flask_key: origin for name, origin in origins.items()}
    for key, value in (overrides or {}).items():
        config[key] = value
        config_origins[key] = "override"

    _derive(config)
    validate(config)
    for message in warnings:
        log.warning("configuration: %s", message)
    config["CONFIG_WARNINGS"] = warnings
    config["CONFIG_ORIGINS"] = config_origins
    return config


def _derive(config: dict[str, Any]) -> None:
    data_dir = Path(config["DATA_DIR"])
    if not data_dir.is_absolute():
        data_dir = ROOT / data_dir
    config["DATA_DIR"] = str(data_dir)
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = f"sqlite:///{data_dir / 'dsr.sqlite3'}"
    if not config["BASE_URL"]:
        config["BASE_URL"] = f"http://{config['HOST']}:{config['PORT']}"
    config["BASE_URL"] = config["BASE_URL"].rstrip("/")
    config["SESSION_COOKIE_SECURE"] = config["BASE_URL"].startswith("https://")
    config["DEBUG"] = config.get("DEBUG", False)
    config["TESTING"] = config.get("TESTING", config["ENV"] == "testing")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def validate(config: Mapping[str, Any]) -> None:
    env = config["ENV"]
    _check(env in KNOWN_ENVS, f"env must be one of {sorted(KNOWN_ENVS)}, got {env!r}")
    secret = config["SECRET_KEY"]
    if env != "development":
        _check(
            bool(secret) and secret != DEVELOPMENT_SECRET_KEY,
            f"Refusing to start with env={env!r} and the built-in development secret key. "
            "Set DSR_SECRET_KEY to a long random value, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`.",
        )
        _check(len(secret) >= 32, "secret_key must be at least 32 characters outside development")
    _check(1 <= config["PORT"] <= 65535, f"port must be 1-65535, got {config['PORT']}")
    _check(0 <= config["PROXY_TRUSTED_HOPS"] <= 5, "proxy.trusted_hops must be 0-5")
    _check(
        not config["MAIL_DEV_MAILBOX"] or env == "development",
        "mail.dev_mailbox catches every email on this machine and is for development only; "
        "set it to false (DSR_MAIL_DEV_MAILBOX=false) and point smtp.* at a real mail server",
    )
    base = urlsplit(config["BASE_URL"])
    _check(
        base.scheme in {"http", "https"} and bool(base.netloc),
        f"base_url must be an absolute http(s) URL, got {config['BASE_URL']!r}",
    )
    _check(
        config["SMTP_SECURITY"] in SMTP_SECURITY,
        f"smtp.security must be one of {sorted(SMTP_SECURITY)}, got {config['SMTP_SECURITY']!r}",
    )
    _check(
        config["DEFAULT_LANGUAGE"] in LANGUAGES,
        f"default_language must be one of {LANGUAGES}, got {config['DEFAULT_LANGUAGE']!r}",
    )
    _check(
        config["DEADLINES_REGIME"] in REGIMES,
        f"deadlines.regime must be one of {sorted(REGIMES)}",
    )
    _check(0 <= config["SCHEDULER_DAILY_HOUR"] <= 23, "scheduler.daily_hour must be 0-23")
    _check(
        all(d > 0 for d in config["SCHEDULER_REMINDER_DAYS"]),
        "scheduler.reminder_days must be positive whole days",
    )
    for key in (
        "VERIFICATION_TOKEN_HOURS",
        "VERIFICATION_MAX_ATTEMPTS",
        "VERIFICATION_UNVERIFIED_EXPIRY_DAYS",
        "OUTBOX_MAX_ATTEMPTS",
        "RETENTION_CLOSED_REQUEST_YEARS",
        "EXPORTS_LINK_DAYS",
        "EXPORTS_CODE_MINUTES",
        "EXPORTS_PDF_ROWS_PER_TABLE",
        "LOGIN_MAX_FAILURES",
        "STAFF_PAGE_SIZE",
        "SCHEDULER_HEARTBEAT_SECONDS",
        "SCHEDULER_POLL_SECONDS",
        "OUTBOX_BATCH_SIZE",
        "OUTBOX_POLL_SECONDS",
        "VERIFICATION_RESEND_PER_HOUR",
        "RATELIMIT_SUBMIT_PER_HOUR_IP",
        "RATELIMIT_SUBMIT_PER_DAY_EMAIL",
        "RATELIMIT_VERIFY_PER_HOUR_IP",
        "RATELIMIT_VERIFY_PER_HOUR_EMAIL",
        "RATELIMIT_RESEND_PER_HOUR_IP",
        "RATELIMIT_REPLY_PER_HOUR",
        "ERASURE_BATCH_SIZE",
    ):
        _check(config[key] >= 1, f"{key.lower()} must be at least 1")
    # One SMTP conversation is a handful of exchanges, each bounded by the timeout; a claim
    # that ran out while its sender was still talking could let another sender repeat it.
    _check(
        config["OUTBOX_CLAIM_SECONDS"] >= 6 * config["SMTP_TIMEOUT"],
        "outbox.claim_seconds must be at least six times smtp.timeout",
    )
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(config["TIMEZONE"])
    except Exception:
        raise ConfigError(f"timezone {config['TIMEZONE']!r} is not a known IANA zone") from None
    if config["EXPORT_KEY"]:
        from dsr.crypto import export_master_key

        try:
            export_master_key(config)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    url = config["DATABASE_URL"]
    _check(
        url.startswith(("sqlite:", "postgresql:", "postgresql+")),
        "database_url must be a sqlite:/// or postgresql+psycopg:// URL",
    )
    _validate_provider(config, "EID", "eid")
    _validate_provider(config, "STAFF_SSO", "staff_sso")
    _check(
        config["STAFF_SSO_LOCAL_PASSWORDS"] or bool(config["STAFF_SSO_ISSUER"]),
        "staff_sso.local_passwords = false leaves nobody a way to log in: configure "
        "staff_sso.issuer, client_id and client_secret first",
    )


def _validate_provider(config: Mapping[str, Any], prefix: str, table: str) -> None:
    """An OpenID provider is configured completely or not at all (``[eid]``, ``[staff_sso]``)."""
    issuer = config[f"{prefix}_ISSUER"]
    if not issuer:
        return
    parts = urlsplit(issuer)
    _check(
        parts.scheme in {"http", "https"} and bool(parts.netloc) and not parts.query,
        f"{table}.issuer must be the provider's issuer URL, got {issuer!r}",
    )
    _check(
        parts.scheme == "https" or config["ENV"] != "production",
        f"{table}.issuer must use https outside development and testing",
    )
    for key in ("CLIENT_ID", "CLIENT_SECRET"):
        _check(
            bool(config[f"{prefix}_{key}"]),
            f"{table}.{key.lower()} is needed when {table}.issuer is set "
            f"(DSR_{prefix}_{key}); the provider gives it when the service is registered",
        )
    _check(
        "openid" in config[f"{prefix}_SCOPES"].split(),
        f"{table}.scopes must include openid",
    )


def public_view(config: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The effective settings for the admin page: (name, value, origin), secrets hidden."""
    origins = config.get("CONFIG_ORIGINS", {})
    rows = []
    for setting in SETTINGS:
        value = config.get(setting.flask_key)
        if setting.secret:
            shown = "(set)" if value else "(not set)"
            if setting.name == "database_url" and value:
                shown = _redact_url(str(value))
        else:
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        rows.append((setting.name, shown, origins.get(setting.flask_key, "default")))
    return rows


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
