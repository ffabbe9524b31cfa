"""Configuration: defaults < config.toml < DSR_* environment < explicit overrides."""

from pathlib import Path

import pytest

from dsr import config
from dsr.config import DEVELOPMENT_SECRET_KEY, ConfigError

GOOD_SECRET = "s" * 40


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_defaults_apply_without_file_or_environment(tmp_path):
    cfg = config.load(tmp_path / "missing.toml", environ={"DSR_SECRET_KEY": GOOD_SECRET})
    assert cfg["PORT"] == 5000
    assert cfg["SMTP_PORT"] == 25
    assert cfg["SCHEDULER_REMINDER_DAYS"] == [7, 3, 1]
    assert cfg["DATABASE_URL"].startswith("sqlite:///") and cfg["DATABASE_URL"].endswith(
        "instance/dsr.sqlite3"
    )
    assert cfg["CONFIG_ORIGINS"]["PORT"] == "default"


def test_file_overrides_defaults_and_environment_overrides_file(tmp_path):
    path = write(
        tmp_path,
        'env = "development"\nport = 6000\n[smtp]\nhost = "mail.example.se"\nport = 2525\n',
    )
    cfg = config.load(path, environ={"DSR_SMTP_PORT": "587", "DSR_MAIL_FROM": "dsr@example.se"})
    assert cfg["PORT"] == 6000
    assert cfg["SMTP_HOST"] == "mail.example.se"
    assert cfg["SMTP_PORT"] == 587
    assert cfg["MAIL_FROM"] == "dsr@example.se"
    assert cfg["CONFIG_ORIGINS"]["SMTP_PORT"] == "DSR_SMTP_PORT"
    assert cfg["CONFIG_ORIGINS"]["SMTP_HOST"] == "config.toml"


def test_every_documented_environment_variable_is_honoured(tmp_path):
    environ = {
        "DSR_DATABASE_URL": "postgresql+psycopg://dsr@db.internal/dsr",
        "DSR_SECRET_KEY": GOOD_SECRET,
        "DSR_BASE_URL": "https://dsr.example.se/",
        "DSR_SMTP_HOST": "smtp.example.se",
        "DSR_SMTP_PORT": "465",
        "DSR_SMTP_USER": "mailer",
        "DSR_SMTP_PASSWORD": "pw",
        "DSR_MAIL_FROM": "integritet@example.se",
        "DSR_DATA_DIR": str(tmp_path / "data"),
        "DSR_PORT": "8080",
    }
    cfg = config.load(tmp_path / "none.toml", environ=environ)
    assert cfg["DATABASE_URL"] == "postgresql+psycopg://dsr@db.internal/dsr"
    assert cfg["SECRET_KEY"] == GOOD_SECRET
    assert cfg["BASE_URL"] == "https://dsr.example.se"
    assert cfg["SESSION_COOKIE_SECURE"] is True
    assert (cfg["SMTP_HOST"], cfg["SMTP_PORT"], cfg["SMTP_USER"], cfg["SMTP_PASSWORD"]) == (
        "smtp.example.se",
        465,
        "mailer",
        "pw",
    )
    assert cfg["MAIL_FROM"] == "integritet@example.se"
    assert cfg["DATA_DIR"] == str(tmp_path / "data")
    assert cfg["PORT"] == 8080


def test_environment_values_are_parsed_to_the_setting_type(tmp_path):
    cfg = config.load(
        tmp_path / "none.toml",
        environ={
            "DSR_SECRET_KEY": GOOD_SECRET,
            "DSR_DEADLINES_EVES_ARE_HOLIDAYS": "yes",
            "DSR_SCHEDULER_REMINDER_DAYS": "10, 2",
            "DSR_SMTP_TIMEOUT": "2.5",
        },
    )
    assert cfg["DEADLINES_EVES_ARE_HOLIDAYS"] is True
    assert cfg["SCHEDULER_REMINDER_DAYS"] == [10, 2]
    assert cfg["SMTP_TIMEOUT"] == 2.5


def test_a_value_of_the_wrong_type_names_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="DSR_SMTP_PORT: smtp.port is invalid"):
        config.load(
            tmp_path / "none.toml",
            environ={"DSR_SECRET_KEY": GOOD_SECRET, "DSR_SMTP_PORT": "twenty-five"},
        )
    path = write(tmp_path, 'env = "development"\n[deadlines]\neves_are_holidays = "maybe"\n')
    with pytest.raises(ConfigError, match="deadlines.eves_are_holidays"):
        config.load(path, environ={})


def test_unknown_keys_are_reported_not_silently_ignored(tmp_path, caplog):
    path = write(tmp_path, 'env = "development"\n[smtp]\nhots = "typo.example"\n')
    cfg = config.load(path, environ={"DSR_SMPT_HOST": "x"})
    assert "config.toml: unknown key 'smtp.hots' ignored" in cfg["CONFIG_WARNINGS"]
    assert "environment: unknown variable DSR_SMPT_HOST ignored" in cfg["CONFIG_WARNINGS"]
    assert "smtp.hots" in caplog.text and "DSR_SMPT_HOST" in caplog.text


def test_default_secret_refused_outside_development(tmp_path):
    for env in ("production", "testing"):
        with pytest.raises(ConfigError, match="Set DSR_SECRET_KEY"):
            config.load(tmp_path / "none.toml", environ={"DSR_ENV": env})
    with pytest.raises(ConfigError, match="Set DSR_SECRET_KEY"):
        config.load(
            tmp_path / "none.toml",
            environ={"DSR_ENV": "production", "DSR_SECRET_KEY": DEVELOPMENT_SECRET_KEY},
        )
    with pytest.raises(ConfigError, match="at least 32 characters"):
        config.load(tmp_path / "none.toml", environ={"DSR_SECRET_KEY": "short"})


def test_production_is_the_default_environment_so_a_bare_deploy_needs_a_secret(tmp_path):
    with pytest.raises(ConfigError):
        config.load(tmp_path / "none.toml", environ={})


def test_development_may_use_the_built_in_secret(tmp_path):
    cfg = config.load(tmp_path / "none.toml", environ={"DSR_ENV": "development"})
    assert cfg["SECRET_KEY"] == DEVELOPMENT_SECRET_KEY


def test_the_shipped_config_file_is_valid_and_documents_every_key():
    shipped = config.ROOT / "config.toml"
    cfg = config.load(shipped, environ={})
    assert cfg["CONFIG_WARNINGS"] == []
    text = shipped.read_text(encoding="utf-8")
    for setting in config.SETTINGS:
        key = setting.name.split(".")[-1]
        assert f"{key} =" in text, f"config.toml does not mention {setting.name}"
    # Each key (commented out or not) is preceded by a comment line explaining it.
    lines = text.splitlines()
    for index, line in enumerate(lines):
        stripped = line.lstrip("# ").strip()
        if "=" in stripped and not line.startswith("#") and not stripped.startswith("["):
            above = lines[index - 1].strip()
            assert above.startswith("#") or "=" in above, f"undocumented: {line}"


def test_invalid_values_are_refused_with_their_name(tmp_path):
    cases = {
        "DSR_PORT": ("70000", "port must be"),
        "DSR_BASE_URL": ("dsr.example.se", "base_url must be"),
        "DSR_SMTP_SECURITY": ("tls13", "smtp.security"),
        "DSR_TIMEZONE": ("Mars/Olympus", "timezone"),
        "DSR_DATABASE_URL": ("mysql://x", "database_url"),
        "DSR_DEFAULT_LANGUAGE": ("de", "default_language"),
    }
    for var, (value, message) in cases.items():
        with pytest.raises(ConfigError, match=message):
            config.load(tmp_path / "none.toml", environ={"DSR_SECRET_KEY": GOOD_SECRET, var: value})


def test_dsr_config_pointing_nowhere_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(None, environ={"DSR_CONFIG": str(tmp_path / "nope.toml")})


def test_admin_view_hides_secrets():
    cfg = config.load(
        config.ROOT / "config.toml",
        environ={
            "DSR_SMTP_PASSWORD": "hunter2",
            "DSR_DATABASE_URL": "postgresql+psycopg://dsr:topsecret@db/dsr",
        },
    )
    shown = dict((name, value) for name, value, _origin in config.public_view(cfg))
    assert shown["smtp.password"] == "(set)"
    assert "topsecret" not in shown["database_url"] and "***" in shown["database_url"]
    assert shown["secret_key"] == "(set)"
    assert "hunter2" not in repr(config.public_view(cfg))


def test_base_url_follows_host_and_port_unless_set(tmp_path):
    cfg = config.load(
        tmp_path / "none.toml", environ={"DSR_ENV": "development", "DSR_PORT": "5001"}
    )
    assert cfg["BASE_URL"] == "http://127.0.0.1:5001"
    cfg = config.load(
        tmp_path / "none.toml",
        environ={
            "DSR_ENV": "development",
            "DSR_PORT": "5001",
            "DSR_BASE_URL": "https://dsr.example.se/",
        },
    )
    assert cfg["BASE_URL"] == "https://dsr.example.se"


def test_an_openid_provider_is_configured_completely_or_not_at_all(tmp_path):
    base = {"DSR_SECRET_KEY": GOOD_SECRET}
    cfg = config.load(
        tmp_path / "none.toml",
        environ={
            **base,
            "DSR_EID_ISSUER": "https://eid.example.se",
            "DSR_EID_CLIENT_ID": "dsr",
            "DSR_EID_CLIENT_SECRET": "from-the-provider",
            "DSR_EID_ACR_VALUES": "http://id.elegnamnden.se/loa/1.0/loa3",
            "DSR_STAFF_SSO_ISSUER": "https://login.example.se/realms/staff",
            "DSR_STAFF_SSO_CLIENT_ID": "dsr-staff",
            "DSR_STAFF_SSO_CLIENT_SECRET": "also-from-the-provider",
            "DSR_STAFF_SSO_LOCAL_PASSWORDS": "false",
        },
    )
    assert cfg["EID_ISSUER"] == "https://eid.example.se"
    assert cfg["EID_SCOPES"] == "openid https://id.oidc.se/scope/naturalPersonNumber"
    assert cfg["EID_PERSONNUMMER_CLAIM"] == "https://id.oidc.se/claim/personalIdentityNumber"
    assert cfg["STAFF_SSO_LOCAL_PASSWORDS"] is False
    shown = {name: value for name, value, _origin in config.public_view(cfg)}
    assert shown["eid.client_secret"] == "(set)" and shown["staff_sso.client_secret"] == "(set)"
    assert "from-the-provider" not in str(config.public_view(cfg))

    cases = [
        ({"DSR_EID_ISSUER": "https://eid.example.se"}, "eid.client_id is needed"),
        (
            {"DSR_EID_ISSUER": "https://eid.example.se", "DSR_EID_CLIENT_ID": "dsr"},
            "eid.client_secret is needed",
        ),
        (
            {
                "DSR_EID_ISSUER": "http://eid.example.se",
                "DSR_EID_CLIENT_ID": "dsr",
                "DSR_EID_CLIENT_SECRET": "x",
            },
            "eid.issuer must use https",
        ),
        (
            {
                "DSR_STAFF_SSO_ISSUER": "https://login.example.se",
                "DSR_STAFF_SSO_CLIENT_ID": "dsr",
                "DSR_STAFF_SSO_CLIENT_SECRET": "x",
                "DSR_STAFF_SSO_SCOPES": "email",
            },
            "staff_sso.scopes must include openid",
        ),
        ({"DSR_STAFF_SSO_LOCAL_PASSWORDS": "false"}, "leaves nobody a way to log in"),
    ]
    for environ, message in cases:
        with pytest.raises(ConfigError, match=message):
            config.load(tmp_path / "none.toml", environ={**base, **environ})
