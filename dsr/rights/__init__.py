"""Executing the rights: one module per right, registered by right.

Each right plans first (what will be disclosed, changed, deleted or kept, and why), a
handler approves, then it executes idempotently and records what it did; see
``dsr.rights.base`` for the shape every right shares and ``dsr.rights.service`` for storing,
approving and running plans. Adding a right is adding a module and a line below.
"""

from __future__ import annotations

from flask import Flask

from dsr.models import Right
from dsr.rights.access import Access
from dsr.rights.base import RightHandler
from dsr.rights.consent import ConsentHandler
from dsr.rights.erasure import ErasureHandler
from dsr.rights.objection import ObjectionHandler
from dsr.rights.portability import Portability
from dsr.rights.rectification import RectificationHandler
from dsr.rights.restriction import RestrictionHandler
from dsr.rights.review import ReviewHandler

RIGHTS: dict[Right, type[RightHandler]] = {
    Right.access: Access,
    Right.portability: Portability,
    Right.rectification: RectificationHandler,
    Right.erasure: ErasureHandler,
    Right.restriction: RestrictionHandler,
    Right.objection: ObjectionHandler,
    Right.consent_withdrawal: ConsentHandler,
    Right.human_review: ReviewHandler,
}


def init_app(app: Flask) -> None:
    """Completion waits for the executed plan (``workflow.COMPLETION_CHECKS``)."""
    from dsr import workflow
    from dsr.rights.service import completion_problem

    if completion_problem not in workflow.COMPLETION_CHECKS:
        workflow.COMPLETION_CHECKS.append(completion_problem)
