"""What every right shares: where it runs, whom it acts for, and the shape of its plan.

A right (one module each, registered in ``dsr.rights.RIGHTS``) is a :class:`RightHandler`
with ``plan(session, request) -> Plan``, which reads and changes nothing, and
``execute(session, request, plan, run=...) -> Outcome``, which does the work. Plans and
outcomes are plain dataclasses whose ``as_dict()`` is JSON; ``dsr.rights.service`` stores
them on a :class:`~dsr.models.RequestPlan` row, approves, cancels and runs them.

The subject's records are located again for each plan and each run, with the identities
verified so far. When those identities lead to more than one person in a source (one email,
another's phone), nothing is acted on until the handler has chosen whose records they are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session, col

from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import Request, RequestPlan, Right
from dsr.profiles import Profile, current_profile
from dsr.sources.datamap import SourceMap
from dsr.sources.locate import RequestIdentities, identities_for_request, locate
from dsr.sources.manual import planned_tasks
from dsr.sources.results import LocateResult, Record, SourceResult, TableResult, plain
from dsr.workflow import WorkflowError


@dataclass(frozen=True)
class Environment:
    """What a right works with besides the database: the profile, files and settings."""

    profile: Profile
    data_dir: str
    config: Mapping[str, Any]

    @classmethod
    def current(cls) -> Environment:
        return cls(current_profile(), str(current_app.config["DATA_DIR"]), current_app.config)

    @classmethod
    def for_job(cls, config: Mapping[str, Any]) -> Environment:
        """For a scheduler job, which gets the configuration and runs in the app's context."""
        return cls(current_profile(), str(config["DATA_DIR"]), config)


class Plan(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


class Outcome(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


def digest(data: Mapping[str, Any]) -> str:
    """SHA-256 of a plan or outcome as canonical JSON: what approval and proof refer to."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def source_not_changed(source: SourceMap, problem: Exception) -> WorkflowError:
    """The refusal staff see when writing to a source failed: the transaction on that source
    was rolled back, so nothing there changed."""
    return WorkflowError(
        _l(
            "%(source)s could not be changed: %(problem)s. Nothing was changed there.",
            source=source.label or source.name,
            problem=str(problem),
        )
    )


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def json_key(record: Record) -> list[Any]:
    return [plain(part) for part in record.key]


# --- who the subject is ------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A row of a subject table the identities led to: one person in one source."""

    source: str
    table: str
    ref: str
    matched_on: tuple[str, ...]

    @property
    def qualified(self) -> str:
        """Unique across sources: ``source/table:key``."""
        return f"{self.source}/{self.ref}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "table": self.table,
            "ref": self.ref,
            "qualified": self.qualified,
            "matched_on": list(self.matched_on),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Person:
        return cls(data["source"], data["table"], data["ref"], tuple(data["matched_on"]))


@dataclass
class Selection:
    """Whose records a plan acts on when the identities point at several people."""

    ambiguous: bool = False
    #: The candidates, in sources where the identities lead to more than one person.
    people: list[Person] = field(default_factory=list)
    #: ``Person.qualified`` of those the handler decided are the subject.
    chosen: list[str] = field(default_factory=list)

    @property
    def needs_choice(self) -> bool:
        sources = {p.source for p in self.people}
        chosen_sources = {p.source for p in self.people if p.qualified in self.chosen}
        return self.ambiguous and not sources <= chosen_sources

    def as_dict(self) -> dict[str, Any]:
        return {
            "ambiguous": self.ambiguous,
            "people": [p.as_dict() for p in self.people],
            "chosen": list(self.chosen),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Selection:
        return cls(
            ambiguous=bool(data.get("ambiguous")),
            people=[Person.from_dict(p) for p in data.get("people", [])],
            chosen=list(data.get("chosen", [])),
        )


@dataclass
class Located:
    """The subject's records as located now, narrowed to the people the handler chose."""

    result: LocateResult
    identities: RequestIdentities
    selection: Selection

    def _belongs(self, source: SourceResult, record: Record) -> bool:
        if not source.ambiguous:
            return True
        chosen = {
            p.ref
            for p in self.selection.people
            if p.source == source.name and p.qualified in self.selection.chosen
        }
        if record.people:
            return bool(record.people & chosen)
        # A row matched directly (a mailing list by email) belongs to the chosen person if
        # it matched on an identity that led to that person.
        kinds = {
            kind
            for p in self.selection.people
            if p.source == source.name and p.ref in chosen
            for kind in p.matched_on
        }
        direct = {m for m in record.matched_on if not m.startswith("link:")}
        return bool(direct & kinds)

    def tables(self) -> Iterator[tuple[SourceResult, TableResult, list[Record]]]:
        """Every mapped table of every source, with the subject's records in it."""
        for source in self.result.sources:
            for table in source.tables:
                yield source, table, [r for r in table.records if self._belongs(source, r)]

    def records(self, source: str, table: str) -> list[Record]:
        for found_source, found_table, records in self.tables():
            if found_source.name == source and found_table.name == table:
                return records
        return []

    @property
    def record_count(self) -> int:
        return sum(len(records) for _, _, records in self.tables())

    def problems(self) -> list[dict[str, Any]]:
        """Sources or tables that could not be searched: what is found may be incomplete."""
        found = []
        for source in self.result.sources:
            if source.problem is not None:
                found.append({"source": source.name, "table": None, **source.problem.as_dict()})
            for table in source.tables:
                if table.problem is not None:
                    found.append(
                        {"source": source.name, "table": table.name, **table.problem.as_dict()}
                    )
        return found


def locate_subject(request: Request, env: Environment, chosen: Sequence[str] = ()) -> Located:
    """Locate the request's subject with its verified identities, narrowed to ``chosen``."""
    identities = identities_for_request(request)
    if identities.verified:
        result = locate(env.profile, identities.verified, data_dir=env.data_dir)
    else:
        result = LocateResult(identities=identities.verified, sources=[], located_at=utcnow())
    people = [
        Person(source.name, match.table, match.ref, match.matched_on)
        for source in result.sources
        if source.ambiguous
        for match in source.people
    ]
    known = {p.qualified for p in people}
    selection = Selection(
        ambiguous=result.ambiguous,
        people=people,
        chosen=[c for c in chosen if c in known],
    )
    return Located(result, identities, selection)


# --- the part every plan starts with -----------------------------------------------------------


@dataclass
class Header:
    """Who, when, with which identities, and what could not be searched."""

    right: Right
    reference: str
    planned_at: datetime
    #: Verified identities searched with, personnummer masked.
    identities: dict[str, str]
    #: Identity kinds on the request not (yet) verified well enough to search with.
    unverified: list[str]
    selection: Selection
    problems: list[dict[str, Any]]
    #: Manual tasks the right will create: systems without a connection, Art. 19 notices.
    manual: list[dict[str, str]]

    @classmethod
    def build(cls, request: Request, env: Environment, located: Located) -> Header:
        return cls(
            right=request.right,
            reference=request.reference,
            planned_at=utcnow(),
            identities=located.identities.verified.masked(),
            unverified=[k.value for k in located.identities.unverified],
            selection=located.selection,
            problems=located.problems(),
            manual=[
                {"kind": t.kind.value, "target": t.target, "instructions": t.instructions}
                for t in planned_tasks(env.profile, request.right)
            ],
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "right": self.right.value,
            "reference": self.reference,
            "planned_at": self.planned_at.isoformat(),
            "identities": dict(self.identities),
            "unverified": list(self.unverified),
            "selection": self.selection.as_dict(),
            "problems": list(self.problems),
            "manual": list(self.manual),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Header:
        return cls(
            right=Right(data["right"]),
            reference=data["reference"],
            planned_at=datetime.fromisoformat(data["planned_at"]),
            identities=dict(data.get("identities", {})),
            unverified=list(data.get("unverified", [])),
            selection=Selection.from_dict(data.get("selection", {})),
            problems=list(data.get("problems", [])),
            manual=list(data.get("manual", [])),
        )

    def blockers(self) -> list[str]:
        """What stands between any plan and its approval."""
        found = []
        if self.selection.needs_choice:
            found.append(
                str(
                    _l("The identities match more than one person: choose whose records these are.")
                )
            )
        if self.problems:
            found.append(
                str(_l("Some sources could not be searched; fix them and make the plan again."))
            )
        return found


# --- running a plan ------------------------------------------------------------------------------


@dataclass
class Run:
    """One execution of a stored plan: who runs it, when, and where its progress is kept."""

    session: Session
    row: RequestPlan
    actor: Actor
    env: Environment
    now: datetime

    def commit(self) -> None:
        """Commit after a source has been changed and the change logged.

        A run that changes several sources does so in one transaction per source; once a
        source has committed, the record of it must be durable too, or a failure in the
        next source would roll back the log of a change that stands.
        """
        self.row.updated_at = utcnow()
        self.session.add(self.row)
        self.session.commit()

    def checkpoint(
        self, execution: Mapping[str, Any], *, only: Sequence[str] | None = None
    ) -> None:
        """Commit progress so that a crashed run resumes after it.

        Only resumable runs (erasure, batch by batch) call this: each batch changes a
        source in its own transaction, and the record of it must be durable before the
        next batch starts, or a crash would leave the source changed and the log silent.

        ``only`` names the keys that changed since the last checkpoint (the cursor, what
        was done): just those are written into the stored state, which keeps the work
        list written once rather than again with every batch.
        """
        # A statement rather than attributes set on the row: every commit expires the row,
        # and flushing attributes set on an expired row loads the whole row first (the plan,
        # the previous work list), which for a large erasure costs more than the batch.
        row_id = sa_inspect(self.row).identity[0]
        value: Any = dict(execution)
        if only is not None:
            value = _json_merged(self.session, {key: execution[key] for key in only})
        self.session.execute(
            update(RequestPlan)
            .where(col(RequestPlan.id) == row_id)
            .values(execution=value, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        self.session.commit()


def _json_merged(session: Session, patch: Mapping[str, Any]) -> Any:
    """The stored execution state with the top-level keys of ``patch`` replaced, computed by
    the database (``jsonb ||`` on PostgreSQL, ``json_patch`` on SQLite)."""
    column = RequestPlan.__table__.c.execution  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "postgresql":
        return column.op("||")(bindparam(None, dict(patch), type_=JSONB))
    return func.json_patch(column, json.dumps(dict(patch)))


class RightHandler:
    """Base of one right's module. Subclasses set ``right`` and implement the methods."""

    right: ClassVar[Right]
    #: Approval starts a grace period (``erasure.grace_hours``) before the plan may run.
    grace_period: ClassVar[bool] = False
    #: Runs that change sources batch by batch and commit each (see :meth:`Run.checkpoint`).
    resumable: ClassVar[bool] = False
    #: Running creates the right's manual tasks from the profile (``dsr.sources.manual``).
    creates_tasks: ClassVar[bool] = True
    #: Running changes the controller's databases (and commits after each, see Run.commit).
    writes_sources: ClassVar[bool] = False

    @classmethod
    def plan(
        cls,
        session: Session,
        request: Request,
        *,
        env: Environment | None = None,
        chosen: Sequence[str] = (),
        previous: Mapping[str, Any] | None = None,
    ) -> Plan:
        """What executing would do, from the records located now. Changes nothing.

        ``previous`` is the draft this plan replaces: decisions the handler made on it that
        still apply (redactions, corrections, exclusions) are carried over.
        """
        raise NotImplementedError

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Any:
        """The plan dataclass from its stored JSON."""
        raise NotImplementedError

    @classmethod
    def load_outcome(cls, data: Mapping[str, Any]) -> Any:
        """The outcome dataclass from its stored JSON."""
        raise NotImplementedError

    @classmethod
    def blockers(cls, plan: Any) -> list[str]:
        """What stands between the plan and its approval, in words."""
        return list(plan.header.blockers())

    @classmethod
    def execute(cls, session: Session, request: Request, plan: Any, *, run: Run) -> Outcome:
        raise NotImplementedError

    @classmethod
    def completion_problem(cls, session: Session, row: RequestPlan) -> str | None:
        """After execution: what must still happen before the request can be completed."""
        return None

    @classmethod
    def changed_categories(cls, row: RequestPlan) -> list[str]:
        """Data categories a run changed, for the Art. 19 notices to recipients."""
        return []

    @classmethod
    def summary(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """A few numbers about a stored plan, for audit events and the request page."""
        return {}
