"""Reading a parsed TOML document with every problem named by its key.

Profiles are written by hand. A typo in a key name usually means a promise the operator
believes is configured is not, so unknown keys are problems too, and every problem carries
the full path of the offending key (``sources[app].tables[orders].link.customer_id``).
Problems are collected rather than raised one at a time, so one run lists all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class Problems:
    """The problems found so far in one document."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.messages.append(f"{path}: {message}" if path else message)

    def __bool__(self) -> bool:
        return bool(self.messages)


class Node:
    """One TOML table at a known path; accessors record problems and return safe defaults."""

    def __init__(self, data: dict[str, Any], path: str, problems: Problems) -> None:
        self.data = data
        self.path = path
        self.problems = problems
        self._seen: set[str] = set()

    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def problem(self, key: str | None, message: str) -> None:
        self.problems.add(self.key_path(key) if key else self.path, message)

    def has(self, key: str) -> bool:
        self._seen.add(key)
        return key in self.data

    def raw(self, key: str) -> Any:
        self._seen.add(key)
        return self.data.get(key)

    def text(self, key: str, *, required: bool = False, default: str = "") -> str:
        value = self.raw(key)
        if value is None:
            if required:
                self.problem(key, "is required")
            return default
        if not isinstance(value, str):
            self.problem(key, f"must be text, not {type(value).__name__}")
            return default
        if required and not value.strip():
            self.problem(key, "must not be empty")
        return value.strip()

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(key, "must be true or false")
            return default
        return value

    def integer(
        self, key: str, *, required: bool = False, minimum: int | None = None
    ) -> int | None:
        value = self.raw(key)
        if value is None:
            if required:
                self.problem(key, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, "must be a whole number")
            return None
        if minimum is not None and value < minimum:
            self.problem(key, f"must be at least {minimum}")
            return None
        return value

    def texts(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        """A list of strings; a single string is accepted as a list of one."""
        value = self.raw(key)
        if value is None:
            if required:
                self.problem(key, "is required")
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(key, "must be a list of text")
            return ()
        if required and not value:
            self.problem(key, "must not be empty")
        return tuple(v.strip() for v in value)

    def table(self, key: str, *, required: bool = False) -> Node | None:
        value = self.raw(key)
        if value is None:
            if required:
                self.problem(key, "is required")
            return None
        if not isinstance(value, dict):
            self.problem(key, "must be a table")
            return None
        return Node(value, self.key_path(key), self.problems)

    def tables(self, key: str, *, label: str = "name") -> Iterator[Node]:
        """An array of tables, each addressed by its ``label`` key when it has one."""
        value = self.raw(key)
        if value is None:
            return
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(key, "must be an array of tables ([[...]])")
            return
        for index, item in enumerate(value):
            name = item.get(label)
            tag = name if isinstance(name, str) and name else str(index)
            yield Node(item, f"{self.key_path(key)}[{tag}]", self.problems)

    def mapping(self, key: str) -> dict[str, Any]:
        """A table of free keys (column names, category keys) with raw values."""
        value = self.raw(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(key, "must be a table")
            return {}
        return value

    def child(self, key: str, value: dict[str, Any]) -> Node:
        return Node(value, self.key_path(key), self.problems)

    def finish(self) -> None:
        """Report keys nobody asked for: most likely misspelt."""
        for key in sorted(set(self.data) - self._seen):
            self.problem(key, "unknown key")
