"""Controller profiles: who the controller is and what its privacy policy promises.

A profile is a TOML file (``examples/profiles/<name>.toml`` or a path) selected by the
``profile`` setting.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app

from dsr.config import ROOT
from dsr.models import Right

PROFILE_DIR = ROOT / "examples" / "profiles"


class ProfileError(Exception):
    """The profile is inconsistent; the message names the offending key."""


@dataclass(frozen=True)
class Controller:
    name: str
    privacy_email: str
    organisation_number: str = ""
    address: str = ""
    website: str = ""
    policy_url: str = ""


@dataclass(frozen=True)
class Profile:
    key: str
    controller: Controller
    rights: tuple[Right, ...] = tuple(Right)
    extra: dict[str, Any] = field(default_factory=dict)


def resolve_path(name_or_path: str) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.is_absolute() or "/" in name_or_path:
        return candidate if candidate.is_absolute() else ROOT / candidate
    return PROFILE_DIR / f"{name_or_path}.toml"


def load_profile(name_or_path: str) -> Profile:
    path = resolve_path(name_or_path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ProfileError(f"profile {name_or_path!r}: no file at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {path.name}: not valid TOML: {exc}") from None
    controller = data.get("controller")
    if not isinstance(controller, dict):
        raise ProfileError(f"profile {path.name}: [controller] is missing")
    for key in ("name", "privacy_email"):
        if not controller.get(key):
            raise ProfileError(f"profile {path.name}: controller.{key} is required")
    try:
        rights = tuple(
            Right(r) for r in data.get("rights", {}).get("offered", [r.value for r in Right])
        )
    except ValueError as exc:
        raise ProfileError(f"profile {path.name}: rights.offered: {exc}") from None
    return Profile(
        key=path.stem,
        controller=Controller(
            **{k: v for k, v in controller.items() if k in Controller.__dataclass_fields__}
        ),
        rights=rights,
        extra=data,
    )


def current_profile() -> Profile:
    """The profile selected in the configuration, loaded once per app."""
    cached = current_app.extensions.get("dsr.profile")
    if cached is None:
        cached = load_profile(current_app.config["PROFILE"])
        current_app.extensions["dsr.profile"] = cached
    return cached
