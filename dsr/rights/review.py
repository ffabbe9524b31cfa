"""Human review of a solely automated decision (Art. 22(3)).

The plan names the profile's automated decisions, with the one the subject contests chosen,
and carries the subject's view. Executing gives a person the review as a task, with the
decision's logic, the profile's review instructions and the subject's own words attached.
When that person is done, :func:`conclude` records the result (upheld or changed, with the
explanation) and tells the subject, in their language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from dsr import audit, identity, notifications
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import ManualTask, Request, RequestPlan, Right, TaskKind, TaskStatus
from dsr.rights.base import Environment, Header, Located, RightHandler, Run, Selection, iso
from dsr.sources.locate import identities_for_request
from dsr.sources.results import LocateResult
from dsr.workflow import WorkflowError

RESULTS = ("upheld", "changed")


@dataclass
class ReviewPlan:
    header: Header
    #: The decision as the subject described it, and their view.
    contested: str | None
    viewpoint: str | None
    decisions: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.header.as_dict(),
            "contested": self.contested,
            "viewpoint": self.viewpoint,
            "decisions": [dict(d) for d in self.decisions],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReviewPlan:
        return cls(
            header=Header.from_dict(data),
            contested=data.get("contested"),
            viewpoint=data.get("viewpoint"),
            decisions=[dict(d) for d in data.get("decisions", [])],
        )


@dataclass
class ReviewOutcome:
    reference: str
    executed_at: datetime
    plan_sha256: str
    decisions: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    #: result (upheld | changed), explanation, by, at, once the review is done.
    conclusion: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "right": Right.human_review.value,
            "reference": self.reference,
            "executed_at": self.executed_at.isoformat(),
            "plan_sha256": self.plan_sha256,
            "decisions": [dict(d) for d in self.decisions],
            "tasks": list(self.tasks),
            "conclusion": dict(self.conclusion) if self.conclusion else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReviewOutcome:
        return cls(
            reference=data["reference"],
            executed_at=datetime.fromisoformat(data["executed_at"]),
            plan_sha256=data.get("plan_sha256", ""),
            decisions=[dict(d) for d in data.get("decisions", [])],
            tasks=list(data.get("tasks", [])),
            conclusion=dict(data["conclusion"]) if data.get("conclusion") else None,
        )


def choose_decisions(plan: ReviewPlan, names: Sequence[str]) -> None:
    known = {d["name"] for d in plan.decisions}
    if not names or set(names) - known:
        raise WorkflowError(_l("Choose the automated decision the subject contests."))
    for decision in plan.decisions:
        decision["selected"] = decision["name"] in names


def _instructions(decision: Mapping[str, Any], plan: ReviewPlan, language: str) -> str:
    with force_locale(language):
        parts = [
            decision["review"],
            str(_l("The decision's logic: %(logic)s", logic=decision["logic"])),
            str(_l("What the subject contests: %(text)s", text=plan.contested or "–")),
            str(_l("The subject's view: %(text)s", text=plan.viewpoint or "–")),
        ]
    return "\n\n".join(parts)


def conclude(
    session: Session,
    request: Request,
    outcome: ReviewOutcome,
    *,
    result: str,
    explanation: str,
    actor: Actor,
    now: datetime | None = None,
) -> None:
    """Record the review's result and tell the subject (Art. 22(3))."""
    now = now or utcnow()
    explanation = (explanation or "").strip()
    if outcome.conclusion:
        raise WorkflowError(_l("The review has already been concluded."))
    if result not in RESULTS:
        raise WorkflowError(_l("Choose whether the decision stands or was changed."))
    if not explanation:
        raise WorkflowError(_l("Explain the result; the subject is told."))
    ids = [t["id"] for t in outcome.tasks]
    tasks = session.scalars(select(ManualTask).where(ManualTask.id.in_(ids))).all()  # type: ignore[union-attr]
    if any(t.status == TaskStatus.open for t in tasks):
        raise WorkflowError(_l("Finish the review task first."))
    outcome.conclusion = {
        "result": result,
        "explanation": explanation,
        "by": actor.label,
        "at": iso(now),
    }
    if request.subject_email:
        notifications.queue_email(
            session,
            "review_outcome",
            request.subject_email,
            language=request.language,
            context={
                "request": request,
                "changed": result == "changed",
                "decisions": [d["name"] for d in outcome.decisions],
                "explanation": explanation,
                "status_url": identity.status_url(session, request, now),
            },
            request=request,
            carries_secret=True,
        )
    audit.record(
        session,
        "review.concluded",
        actor,
        request=request,
        reason=explanation,
        payload={"result": result, "decisions": [d["name"] for d in outcome.decisions]},
        public=True,
        at=now,
    )


class ReviewHandler(RightHandler):
    right = Right.human_review
    creates_tasks = False

    @classmethod
    def plan(
        cls,
        session: Session,
        request: Request,
        *,
        env: Environment | None = None,
        chosen: Sequence[str] = (),
        previous: Mapping[str, Any] | None = None,
    ) -> ReviewPlan:
        env = env or Environment.current()
        identities = identities_for_request(request)
        # A review is about a decision, not the records: nothing is located for it.
        located = Located(
            LocateResult(identities=identities.verified, sources=[], located_at=utcnow()),
            identities,
            Selection(),
        )
        selected = {d["name"] for d in (previous or {}).get("decisions", []) if d.get("selected")}
        decisions = env.profile.automated_decisions
        header = Header.build(request, env, located)
        header.manual = []
        details = request.details or {}
        return ReviewPlan(
            header=header,
            contested=details.get("decision"),
            viewpoint=details.get("viewpoint"),
            decisions=[
                {
                    "name": d.name,
                    "logic": d.logic,
                    "consequences": d.consequences,
                    "basis": d.basis.value,
                    "purpose": d.purpose,
                    "review": d.review,
                    "selected": d.name in selected or len(decisions) == 1,
                }
                for d in decisions
            ],
        )

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> ReviewPlan:
        return ReviewPlan.from_dict(data)

    @classmethod
    def load_outcome(cls, data: Mapping[str, Any]) -> ReviewOutcome:
        return ReviewOutcome.from_dict(data)

    @classmethod
    def blockers(cls, plan: ReviewPlan) -> list[str]:
        found = list(plan.header.blockers())
        if not any(d["selected"] for d in plan.decisions):
            found.append(str(_l("Choose the automated decision the subject contests.")))
        return found

    @classmethod
    def execute(
        cls, session: Session, request: Request, plan: ReviewPlan, *, run: Run
    ) -> ReviewOutcome:
        tasks = []
        for decision in (d for d in plan.decisions if d["selected"]):
            task = session.scalars(
                select(ManualTask).where(
                    ManualTask.request_id == request.id,
                    ManualTask.kind == TaskKind.review,
                    ManualTask.target == decision["name"][:200],
                )
            ).first()
            if task is None:
                task = ManualTask(
                    request_id=request.id,
                    kind=TaskKind.review,
                    target=decision["name"][:200],
                    instructions=_instructions(
                        decision, plan, str(run.env.config["DEFAULT_LANGUAGE"])
                    ),
                )
                try:
                    with session.begin_nested():
                        session.add(task)
                except IntegrityError:
                    continue
            tasks.append({"id": task.id, "kind": task.kind.value, "target": task.target})
        audit.record(
            session,
            "review.requested",
            run.actor,
            request=request,
            payload={"plan": run.row.number, "decisions": [t["target"] for t in tasks]},
            at=run.now,
        )
        return ReviewOutcome(
            reference=request.reference,
            executed_at=run.now,
            plan_sha256=run.row.plan_sha256 or "",
            decisions=[
                {k: d[k] for k in ("name", "logic", "consequences", "basis")}
                for d in plan.decisions
                if d["selected"]
            ],
            tasks=tasks,
        )

    @classmethod
    def completion_problem(cls, session: Session, row: RequestPlan) -> str | None:
        if not (row.outcome or {}).get("conclusion"):
            return str(_l("Conclude the review and tell the subject the result."))
        return None
