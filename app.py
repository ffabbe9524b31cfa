"""Entry point: `flask --app app ...` finds create_app here; gunicorn uses 'app:create_app()'."""

from dsr import create_app

__all__ = ["create_app"]
