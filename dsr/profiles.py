"""Controller profiles: who the controller is and what its privacy policy promises.

A profile is a TOML file (``examples/profiles/<name>.toml`` or a path) selected by the
``profile`` setting. It is the controller's Art. 30 record in a form the service can act on:
identity and contacts, the supervisory authority, purposes with their legal basis, data
categories and retention, recipients and transfers, automated decisions, the rights the
policy offers, rules particular to the policy, and the data map (``dsr.sources.datamap``)
that says where the subject's data lives. Loading checks that all of it fits together and
names the offending key when it does not; an answer built from an inconsistent profile would
tell the subject something untrue.
"""

from __future__ import annotations

import enum
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from flask import current_app

from dsr.config import ROOT
from dsr.models import AssuranceLevel, Right, TaskKind
from dsr.sources.datamap import ColumnMap, SourceMap, read_sources
from dsr.sources.reader import Node, Problems

PROFILE_DIR = ROOT / "examples" / "profiles"

#: EU and EEA member states (ISO 3166-1 alpha-2), plus "EU"/"EEA" for "somewhere in them".
_EEA = "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK IS LI NO"
EEA_COUNTRIES = frozenset([*_EEA.split(), "EU", "EEA"])
#: For a recipient whose country the policy does not state: treated as outside the EU/EEA.
UNKNOWN_COUNTRY = "UNKNOWN"


class ProfileError(Exception):
    """The profile is inconsistent; the message names the offending key."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems) or [message]


class LegalBasis(enum.StrEnum):
    """Art. 6(1) (a)-(f)."""

    consent = "consent"
    contract = "contract"
    legal_obligation = "legal_obligation"
    vital_interests = "vital_interests"
    public_task = "public_task"
    legitimate_interests = "legitimate_interests"

    @property
    def article(self) -> str:
        return f"6(1)({'abcdef'[list(LegalBasis).index(self)]})"

    @classmethod
    def parse(cls, raw: str) -> LegalBasis:
        """``contract``, ``6(1)(b)`` or ``b``."""
        text = raw.strip().lower().removeprefix("art.").strip()
        for basis in cls:
            if text in (basis.value, basis.article, basis.article[-2]):
                return basis
        raise ValueError(raw)


class DecisionBasis(enum.StrEnum):
    """Art. 22(2): when a solely automated decision is allowed at all."""

    contract = "contract"  # (a)
    law = "law"  # (b)
    explicit_consent = "explicit_consent"  # (c)


class RecipientKind(enum.StrEnum):
    processor = "processor"  # Art. 28, acts on the controller's instructions
    controller = "controller"  # decides its own purposes once it has the data
    authority = "authority"  # receives data only when the law requires it
    #: A kind of recipient named as a group (auditors, "IT suppliers") where no name is given.
    category = "category"


#: Profile keys of manual task instructions, and the task kind each becomes.
TASK_KEYS: Mapping[str, TaskKind] = {
    "locate": TaskKind.locate,
    "erase": TaskKind.erase,
    "rectify": TaskKind.rectify,
    "restrict": TaskKind.restrict,
    "notify": TaskKind.notify,
    # Objection and consent withdrawal: stop the processing there (e.g. leave a mailing list).
    "stop": TaskKind.other,
}


@dataclass(frozen=True)
class Authority:
    name: str
    address: str
    website: str
    email: str = ""


#: Integritetsskyddsmyndigheten, the Swedish supervisory authority (LEGAL.md E1).
IMY = Authority(
    name="Integritetsskyddsmyndigheten (IMY)",
    address="Box 8114, 104 20 Stockholm",
    website="https://www.imy.se",
    email="imy@imy.se",
)


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    phone: str = ""


@dataclass(frozen=True)
class Controller:
    name: str
    privacy_email: str
    organisation_number: str = ""
    address: str = ""
    website: str = ""
    policy_url: str = ""
    phone: str = ""
    #: Data protection officer (Art. 37), if the controller has one.
    dpo: Contact | None = None


@dataclass(frozen=True)
class Category:
    key: str
    description: str
    #: "art9" (special categories) or "art10" (criminal offences), else empty.
    special: str = ""


@dataclass(frozen=True)
class Purpose:
    key: str
    description: str
    basis: LegalBasis
    categories: tuple[str, ...]
    #: The retention rule in words, as the subject is told it (Art. 15(1)(d)).
    retention: str
    direct_marketing: bool = False
    #: For legitimate interests: the interest pursued (Art. 13(1)(d)).
    interest: str = ""
    #: For special categories or criminal data: the Art. 9(2) / Art. 10 condition.
    special_condition: str = ""


@dataclass(frozen=True)
class Recipient:
    name: str
    kind: RecipientKind
    service: str
    countries: tuple[str, ...]
    categories: tuple[str, ...]
    #: Art. 46 safeguard (or adequacy decision) for countries outside the EU/EEA.
    safeguard: str = ""
    #: Told about rectification, erasure and restriction (Art. 19).
    notify_changes: bool = True
    #: Where Art. 19 notices are emailed; without it a handler notifies by hand.
    privacy_email: str = ""
    #: Instructions per task kind for the handler doing the work there by hand.
    tasks: Mapping[TaskKind, str] = field(default_factory=dict)

    @property
    def outside_eea(self) -> tuple[str, ...]:
        return tuple(c for c in self.countries if c not in EEA_COUNTRIES)


@dataclass(frozen=True)
class ManualSystem:
    """The controller's own system without a connection (paper archive, a SaaS inbox)."""

    name: str
    description: str
    categories: tuple[str, ...]
    tasks: Mapping[TaskKind, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AutomatedDecision:
    name: str
    #: Meaningful information about the logic involved (Art. 15(1)(h)).
    logic: str
    #: Significance and envisaged consequences for the subject.
    consequences: str
    basis: DecisionBasis
    purpose: str
    #: How a person reviews the decision on request (Art. 22(3)).
    review: str


@dataclass(frozen=True)
class InactivityRule:
    """Accounts unused for ``years`` are deleted (Kliently: two years)."""

    source: str
    table: str
    column: str
    years: int

    def cutoff(self, today: date) -> date:
        """Accounts last active before this day are due for deletion."""
        try:
            return today.replace(year=today.year - self.years)
        except ValueError:  # 29 February
            return today.replace(year=today.year - self.years, day=28)


@dataclass(frozen=True)
class Rules:
    #: Register extracts free of charge per twelve months; further requests are flagged to
    #: staff, never refused automatically (LEGAL.md B1: a year between requests is never
    #: excessive, and excess must be proven case by case).
    free_access_per_year: int | None = None
    inactivity: InactivityRule | None = None
    #: Other promises staff should keep in mind, in the policy's words.
    notes: tuple[str, ...] = ()

    def access_warning(self, earlier_access: Sequence[date], received: date) -> bool:
        """True when this access request exceeds the free ones of the last twelve months."""
        if self.free_access_per_year is None:
            return False
        since = received - timedelta(days=365)
        recent = [d for d in earlier_access if since < d <= received]
        return len(recent) >= self.free_access_per_year


@dataclass(frozen=True)
class Profile:
    key: str
    controller: Controller
    rights: tuple[Right, ...] = tuple(Right)
    extra: dict[str, Any] = field(default_factory=dict)
    authority: Authority = IMY
    categories: Mapping[str, Category] = field(default_factory=dict)
    purposes: Mapping[str, Purpose] = field(default_factory=dict)
    recipients: tuple[Recipient, ...] = ()
    manual_systems: tuple[ManualSystem, ...] = ()
    automated_decisions: tuple[AutomatedDecision, ...] = ()
    rules: Rules = Rules()
    sources: tuple[SourceMap, ...] = ()
    #: Art. 19 instructions for recipients without their own; ``{recipient}`` is replaced.
    notify_instructions: str = ""
    #: Where the subject's data comes from when not from them (Art. 14(2)(f), 15(1)(g)).
    data_sources_text: str = ""

    def offers(self, right: Right) -> bool:
        return right in self.rights

    def source(self, name: str) -> SourceMap:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)

    def in_portability_scope(self, column: ColumnMap) -> bool:
        """Art. 20(1): provided by the subject and processed on consent or contract."""
        purpose = self.purposes[column.purpose]
        return column.provided and purpose.basis in (LegalBasis.consent, LegalBasis.contract)


# --- loading ---------------------------------------------------------------------------------


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
    return parse_profile(data, key=path.stem, origin=path.name)


def parse_profile(data: dict[str, Any], *, key: str, origin: str | None = None) -> Profile:
    """Build a profile from parsed TOML, or raise :class:`ProfileError` listing every problem."""
    problems = Problems()
    root = Node(data, "", problems)
    profile = _read_profile(root, key, data)
    root.finish()
    if problems:
        origin = origin or key
        listing = "\n  ".join(problems.messages)
        raise ProfileError(f"profile {origin}: {listing}", problems.messages)
    return profile


def _read_contact(node: Node | None) -> Contact | None:
    if node is None:
        return None
    contact = Contact(
        name=node.text("name", required=True),
        email=node.text("email", required=True),
        phone=node.text("phone"),
    )
    node.finish()
    return contact


def _read_controller(root: Node) -> Controller:
    node = root.table("controller", required=True)
    if node is None:
        return Controller(name="", privacy_email="")
    controller = Controller(
        name=node.text("name", required=True),
        privacy_email=node.text("privacy_email", required=True),
        organisation_number=node.text("organisation_number"),
        address=node.text("address"),
        website=node.text("website"),
        policy_url=node.text("policy_url"),
        phone=node.text("phone"),
        dpo=_read_contact(node.table("dpo")),
    )
    if controller.privacy_email and "@" not in controller.privacy_email:
        node.problem("privacy_email", "is not an email address")
    node.finish()
    return controller


def _read_authority(root: Node) -> Authority:
    node = root.table("supervisory_authority")
    if node is None:
        return IMY
    authority = Authority(
        name=node.text("name", required=True),
        address=node.text("address", required=True),
        website=node.text("website", required=True),
        email=node.text("email"),
    )
    node.finish()
    return authority


def _read_categories(root: Node) -> dict[str, Category]:
    categories: dict[str, Category] = {}
    raw = root.mapping("categories")
    if not raw:
        root.problem("categories", "is required: the data categories the controller processes")
    for key, value in raw.items():
        if isinstance(value, str):
            categories[key] = Category(key, value.strip())
            continue
        node = root.child(f"categories.{key}", value if isinstance(value, dict) else {})
        if not isinstance(value, dict):
            node.problem(None, "must be a description or a table")
            continue
        special = node.text("special")
        if special not in ("", "art9", "art10"):
            node.problem("special", 'must be "art9" or "art10"')
        categories[key] = Category(key, node.text("description", required=True), special)
        node.finish()
    return categories


def _read_purposes(root: Node, categories: Mapping[str, Category]) -> dict[str, Purpose]:
    purposes: dict[str, Purpose] = {}
    for node in root.tables("purposes", label="key"):
        key = node.text("key", required=True)
        raw_basis = node.text("basis")
        basis: LegalBasis | None = None
        if not raw_basis:
            node.problem("basis", "is required: the Art. 6(1) legal basis (a)-(f)")
        else:
            try:
                basis = LegalBasis.parse(raw_basis)
            except ValueError:
                known = ", ".join(b.value for b in LegalBasis)
                node.problem("basis", f"unknown legal basis {raw_basis!r} (one of: {known})")
        used = node.texts("categories", required=True)
        for category in used:
            if category not in categories:
                node.problem("categories", f"unknown category {category!r}")
        special_condition = node.text("special_condition")
        if any(categories[c].special for c in used if c in categories) and not special_condition:
            node.problem(
                "special_condition",
                "is required: the purpose uses special-category or criminal-offence data",
            )
        purpose = Purpose(
            key=key,
            description=node.text("description", required=True),
            basis=basis or LegalBasis.consent,
            categories=used,
            retention=node.text("retention", required=True),
            direct_marketing=node.flag("direct_marketing"),
            interest=node.text("interest"),
            special_condition=special_condition,
        )
        if key in purposes:
            node.problem("key", f"purpose {key!r} is defined twice")
        node.finish()
        purposes[key] = purpose
    if not purposes:
        root.problem("purposes", "is required: at least one purpose with its legal basis")
    return purposes


def _read_tasks(node: Node) -> dict[TaskKind, str]:
    tasks: dict[TaskKind, str] = {}
    table = node.table("tasks")
    if table is None:
        return tasks
    for key in list(table.data):
        if key not in TASK_KEYS:
            continue
        text = table.text(key, required=True)
        if text:
            tasks[TASK_KEYS[key]] = text
    table.finish()
    return tasks


def _check_categories(node: Node, used: Sequence[str], categories: Mapping[str, Category]) -> None:
    for category in used:
        if category not in categories:
            node.problem("categories", f"unknown category {category!r}")


def _read_recipients(root: Node, categories: Mapping[str, Category]) -> tuple[Recipient, ...]:
    recipients: list[Recipient] = []
    for node in root.tables("recipients"):
        kind_raw = node.text("kind", required=True)
        try:
            kind = RecipientKind(kind_raw)
        except ValueError:
            known = ", ".join(k.value for k in RecipientKind)
            if kind_raw:
                node.problem("kind", f"unknown kind {kind_raw!r} (one of: {known})")
            kind = RecipientKind.category
        countries = tuple(c.upper() for c in node.texts("countries", required=True))
        used = node.texts("categories")
        _check_categories(node, used, categories)
        recipient = Recipient(
            name=node.text("name", required=True),
            kind=kind,
            service=node.text("service", required=True),
            countries=countries,
            categories=used,
            safeguard=node.text("safeguard"),
            # Authorities get data case by case, when the law demands it; Art. 19 notices
            # go to them only if the handler finds that they did.
            notify_changes=node.flag("notify_changes", kind is not RecipientKind.authority),
            privacy_email=node.text("privacy_email"),
            tasks=_read_tasks(node),
        )
        if recipient.privacy_email and "@" not in recipient.privacy_email:
            node.problem("privacy_email", "is not an email address")
        for country in countries:
            recognised = country in EEA_COUNTRIES or country == UNKNOWN_COUNTRY
            if not recognised and (len(country) != 2 or not country.isalpha()):
                node.problem("countries", f"{country!r} is not an ISO 3166 country code")
        if recipient.outside_eea and not recipient.safeguard:
            node.problem(
                "safeguard",
                f"is required: {', '.join(recipient.outside_eea)} is outside the EU/EEA or "
                "not known (name the adequacy decision or Art. 46 safeguard)",
            )
        node.finish()
        recipients.append(recipient)
    return tuple(recipients)


def _read_manual_systems(
    root: Node, categories: Mapping[str, Category]
) -> tuple[ManualSystem, ...]:
    systems: list[ManualSystem] = []
    for node in root.tables("manual_systems"):
        used = node.texts("categories")
        _check_categories(node, used, categories)
        system = ManualSystem(
            name=node.text("name", required=True),
            description=node.text("description", required=True),
            categories=used,
            tasks=_read_tasks(node),
        )
        if not system.tasks:
            node.problem("tasks", "is required: what a handler does there for each right")
        node.finish()
        systems.append(system)
    return tuple(systems)


def _read_decisions(root: Node, purposes: Mapping[str, Purpose]) -> tuple[AutomatedDecision, ...]:
    decisions: list[AutomatedDecision] = []
    for node in root.tables("automated_decisions"):
        raw = node.text("basis", required=True)
        try:
            basis = DecisionBasis(raw)
        except ValueError:
            if raw:
                known = ", ".join(b.value for b in DecisionBasis)
                node.problem("basis", f"unknown Art. 22(2) basis {raw!r} (one of: {known})")
            basis = DecisionBasis.law
        purpose = node.text("purpose", required=True)
        if purpose and purpose not in purposes:
            node.problem("purpose", f"unknown purpose {purpose!r}")
        decisions.append(
            AutomatedDecision(
                name=node.text("name", required=True),
                logic=node.text("logic", required=True),
                consequences=node.text("consequences", required=True),
                basis=basis,
                purpose=purpose,
                review=node.text("review", required=True),
            )
        )
        node.finish()
    return tuple(decisions)


def _read_rights(root: Node, decisions: Sequence[AutomatedDecision]) -> tuple[Right, ...]:
    node = root.table("rights")
    if node is None:
        # Every right the law gives; Art. 22(3) review only where there is a decision to review.
        return tuple(r for r in Right if r is not Right.human_review or decisions)
    offered: list[Right] = []
    for raw in node.texts("offered", required=True):
        try:
            offered.append(Right(raw))
        except ValueError:
            known = ", ".join(r.value for r in Right)
            node.problem("offered", f"unknown right {raw!r} (one of: {known})")
    node.finish()
    if Right.human_review in offered and not decisions:
        node.problem("offered", "human_review is offered but no [[automated_decisions]] exist")
    needs_review = [d.name for d in decisions if d.basis is not DecisionBasis.law]
    if needs_review and Right.human_review not in offered:
        node.problem(
            "offered",
            "must include human_review: Art. 22(3) requires it for "
            + ", ".join(repr(n) for n in needs_review),
        )
    return tuple(offered)


def _read_rules(root: Node, sources: Sequence[SourceMap]) -> Rules:
    node = root.table("rules")
    if node is None:
        return Rules()
    inactivity: InactivityRule | None = None
    inactive = node.table("inactivity")
    if inactive is not None:
        rule = InactivityRule(
            source=inactive.text("source", required=True),
            table=inactive.text("table", required=True),
            column=inactive.text("column", required=True),
            years=inactive.integer("years", required=True, minimum=1) or 1,
        )
        inactive.finish()
        try:
            table = next(s for s in sources if s.name == rule.source).table(rule.table)
        except (StopIteration, KeyError):
            inactive.problem(None, f"no mapped table {rule.source}.{rule.table}")
        else:
            if rule.column not in table.columns:
                inactive.problem("column", f"column {rule.column!r} is not mapped")
        inactivity = rule
    rules = Rules(
        free_access_per_year=node.integer("free_access_per_year", minimum=1),
        inactivity=inactivity,
        notes=node.texts("notes"),
    )
    node.finish()
    return rules


def _read_identity(root: Node) -> None:
    """``[identity] required = { access = "staff_verified" }``: more proof of identity than
    the default before staff act on some rights. ``dsr.identity.required_assurance`` reads
    it; checking it here means a misspelt right or level is reported, not ignored."""
    from dsr.identity import DEFAULT_REQUIRED

    node = root.table("identity")
    if node is None:
        return
    levels = ", ".join(a.value for a in AssuranceLevel)
    for raw_right, raw_level in node.mapping("required").items():
        where = f"required.{raw_right}"
        try:
            right = Right(raw_right)
        except ValueError:
            node.problem(where, f"unknown right (one of: {', '.join(r.value for r in Right)})")
            continue
        try:
            level = AssuranceLevel(raw_level)
        except ValueError:
            node.problem(where, f"unknown assurance level {raw_level!r} (one of: {levels})")
            continue
        if level.rank < DEFAULT_REQUIRED[right].rank:
            node.problem(
                where, f"cannot ask for less than the default, {DEFAULT_REQUIRED[right].value}"
            )
    node.finish()


def _read_profile(root: Node, key: str, data: dict[str, Any]) -> Profile:
    controller = _read_controller(root)
    authority = _read_authority(root)
    categories = _read_categories(root)
    purposes = _read_purposes(root, categories)
    recipients = _read_recipients(root, categories)
    manual_systems = _read_manual_systems(root, categories)
    decisions = _read_decisions(root, purposes)
    rights = _read_rights(root, decisions)
    purpose_categories = {k: frozenset(p.categories) for k, p in purposes.items()}
    sources = read_sources(root, purpose_categories, categories)
    rules = _read_rules(root, sources)
    _read_identity(root)
    notify = root.text("notify_instructions")
    if not notify and any(r.notify_changes and TaskKind.notify not in r.tasks for r in recipients):
        root.problem(
            "notify_instructions",
            "is required: some recipients have no tasks.notify of their own (Art. 19)",
        )
    names = [r.name for r in recipients] + [m.name for m in manual_systems]
    for name in {n for n in names if names.count(n) > 1}:
        root.problem("recipients", f"{name!r} is named twice among recipients and manual systems")
    return Profile(
        key=key,
        controller=controller,
        rights=rights,
        extra=data,
        authority=authority,
        categories=categories,
        purposes=purposes,
        recipients=recipients,
        manual_systems=manual_systems,
        automated_decisions=decisions,
        rules=rules,
        sources=sources,
        notify_instructions=notify,
        data_sources_text=root.text("data_obtained_from"),
    )


def current_profile() -> Profile:
    """The profile selected in the configuration, loaded once per app."""
    cached = current_app.extensions.get("dsr.profile")
    if cached is None:
        cached = load_profile(current_app.config["PROFILE"])
        current_app.extensions["dsr.profile"] = cached
    return cached
