"""Controller profiles: the six shipped ones load, and inconsistent ones are refused by name."""

import copy
from datetime import date

import pytest

from dsr.models import Right
from dsr.profiles import (
    IMY,
    PROFILE_DIR,
    LegalBasis,
    ProfileError,
    current_profile,
    load_profile,
    parse_profile,
)
from dsr.sources.datamap import Anonymize, CountFrom, Erasure, IdentityKind, RetainRule

SHIPPED = ["default", "kliently", "cling", "qleano", "klingit", "hosting-provider"]


@pytest.mark.parametrize("key", SHIPPED)
def test_every_shipped_profile_loads_with_a_data_map(key):
    profile = load_profile(key)
    assert profile.key == key
    assert profile.controller.name and "@" in profile.controller.privacy_email
    assert profile.rights and all(isinstance(r, Right) for r in profile.rights)
    assert profile.purposes and profile.categories
    assert profile.sources, "every profile maps a customer database"
    for source in profile.sources:
        reached = set()
        for table in source.tables:
            # Links only ever point back to tables already in the order.
            assert table.depends_on <= reached
            reached.add(table.name)


def test_every_profile_file_in_the_directory_is_one_of_the_six():
    assert sorted(p.stem for p in PROFILE_DIR.glob("*.toml")) == sorted(SHIPPED)


def test_imy_is_the_supervisory_authority_unless_the_profile_says_otherwise():
    assert IMY.address == "Box 8114, 104 20 Stockholm"
    for key in SHIPPED:
        assert load_profile(key).authority == IMY


def test_default_offers_every_right():
    assert set(load_profile("default").rights) == set(Right)


def test_kliently_deletes_accounts_after_two_years_without_use():
    rules = load_profile("kliently").rules
    assert rules.inactivity is not None
    assert (rules.inactivity.table, rules.inactivity.column, rules.inactivity.years) == (
        "users",
        "last_login_at",
        2,
    )
    assert rules.inactivity.cutoff(date(2026, 11, 21)) == date(2024, 11, 21)
    assert rules.inactivity.cutoff(date(2028, 2, 29)) == date(2026, 2, 28)


def test_cling_warns_about_a_second_extract_within_a_year_and_never_refuses():
    profile = load_profile("cling")
    rules = profile.rules
    assert rules.free_access_per_year == 1
    assert rules.access_warning([], date(2026, 5, 1)) is False
    assert rules.access_warning([date(2026, 1, 10)], date(2026, 5, 1)) is True
    # A year or more between requests is never excessive (LEGAL.md B1).
    assert rules.access_warning([date(2025, 4, 30)], date(2026, 5, 1)) is False
    assert Right.access in profile.rights


def test_cling_names_a_safeguard_for_every_recipient_outside_the_eea():
    outside = [r for r in load_profile("cling").recipients if r.outside_eea]
    assert {r.name for r in outside} >= {"Intercom, Inc", "HubSpot, Inc", "Slack, Inc"}
    assert all(r.safeguard for r in outside)


def test_hosting_provider_offers_review_of_its_automated_decisions():
    profile = load_profile("hosting-provider")
    assert profile.automated_decisions
    assert Right.human_review in profile.rights


def test_profiles_without_automated_decisions_do_not_offer_review():
    for key in ("kliently", "cling", "qleano", "klingit"):
        profile = load_profile(key)
        assert not profile.automated_decisions
        assert Right.human_review not in profile.rights


def test_portability_covers_what_the_subject_provided_on_consent_or_contract():
    profile = load_profile("default")
    customers = profile.source("kundsystem").table("customers")
    assert profile.in_portability_scope(customers.columns["email"])  # provided, contract
    # Made by the shop, not given by the subject.
    assert not profile.in_portability_scope(customers.columns["created_at"])
    tickets = profile.source("kundsystem").table("support_tickets")
    # Support rests on legitimate interests: in the access answer, not in the export.
    assert not profile.in_portability_scope(tickets.columns["subject"])


def test_current_profile_is_the_configured_one(app):
    with app.app_context():
        assert current_profile().key == app.config["PROFILE"]
        assert current_profile() is current_profile()


def test_legal_basis_reads_names_and_article_points():
    assert LegalBasis.parse("6(1)(f)") is LegalBasis.legitimate_interests
    assert LegalBasis.parse("b") is LegalBasis.contract
    assert LegalBasis.parse("consent").article == "6(1)(a)"
    with pytest.raises(ValueError):
        LegalBasis.parse("6(1)(g)")


def test_bokforingslagen_keeps_until_the_end_of_the_seventh_year():
    rule = RetainRule("Bokföringslagen 7:2", "17(3)(b)", 7, "paid_at")
    assert rule.ends_on(date(2025, 12, 31)) == date(2032, 12, 31)
    assert rule.ends_on(date(2025, 5, 1)) == date(2032, 12, 31)
    assert rule.ends_on("2025-05-01 10:00:00") == date(2032, 12, 31)
    assert rule.ends_on(None) is None
    from_date = RetainRule("Avtal", "17(3)(e)", 1, "signed_at", CountFrom.date)
    assert from_date.ends_on(date(2024, 2, 29)) == date(2025, 2, 28)


# --- refused profiles --------------------------------------------------------------------------

VALID = {
    "controller": {"name": "Test AB", "privacy_email": "privacy@test.example"},
    "notify_instructions": "Tell {recipient}.",
    "rights": {"offered": ["access", "erasure"]},
    "categories": {"contact": "Contact details", "orders": "Orders"},
    "purposes": [
        {
            "key": "service",
            "description": "Deliver",
            "basis": "contract",
            "categories": ["contact", "orders"],
            "retention": "While a customer",
        }
    ],
    "recipients": [
        {
            "name": "Mailer Inc.",
            "kind": "processor",
            "service": "Email",
            "countries": ["US"],
            "categories": ["contact"],
            "safeguard": "Standard contractual clauses",
        }
    ],
    "sources": [
        {
            "name": "app",
            "url": "sqlite:///{data_dir}/app.sqlite3",
            "tables": [
                {
                    "name": "customers",
                    "subject": True,
                    "identity": {"email": "email"},
                    "purpose": "service",
                    "erasure": "anonymize",
                    "columns": {
                        "email": {"category": "contact", "anonymize": "placeholder_email"},
                        "name": {"category": "contact", "anonymize": "redact"},
                    },
                },
                {
                    "name": "orders",
                    "link": {"customer_id": "customers.id"},
                    "purpose": "service",
                    "erasure": "retain",
                    "retain": {
                        "basis": "Bokföringslagen 7:2",
                        "exception": "17(3)(b)",
                        "years": 7,
                        "from": "ordered_at",
                    },
                    "columns": {"ordered_at": "orders", "total": "orders"},
                },
            ],
        }
    ],
}


def broken(change):
    data = copy.deepcopy(VALID)
    change(data)
    with pytest.raises(ProfileError) as caught:
        parse_profile(data, key="test")
    return str(caught.value)


def test_the_valid_base_profile_loads():
    profile = parse_profile(copy.deepcopy(VALID), key="test")
    orders = profile.source("app").table("orders")
    assert orders.erasure is Erasure.retain
    assert orders.retain.ends_on(date(2026, 3, 1)) == date(2033, 12, 31)
    customers = profile.source("app").table("customers")
    assert customers.identity_columns(IdentityKind.email) == ("email",)
    assert customers.columns["name"].anonymize is Anonymize.redact


def test_an_unknown_purpose_is_named():
    message = broken(lambda d: d["sources"][0]["tables"][1].update(purpose="billing"))
    assert "sources[app].tables[orders].purpose: unknown purpose 'billing'" in message


def test_a_column_with_an_unknown_purpose_or_category_is_named():
    def change(d):
        d["sources"][0]["tables"][1]["columns"]["total"] = {"category": "money"}
        d["sources"][0]["tables"][1]["columns"]["ordered_at"] = {
            "category": "orders",
            "purpose": "marketing",
        }

    message = broken(change)
    assert "sources[app].tables[orders].columns.total: unknown category 'money'" in message
    assert "tables[orders].columns.ordered_at: unknown purpose 'marketing'" in message


def test_a_column_category_outside_its_purpose_is_named():
    def change(d):
        d["purposes"][0]["categories"] = ["contact"]

    message = broken(change)
    assert "columns.total: category 'orders' is not among the categories of purpose" in message


def test_a_purpose_without_legal_basis_is_named():
    message = broken(lambda d: d["purposes"][0].pop("basis"))
    assert "purposes[service].basis: is required" in message
    message = broken(lambda d: d["purposes"][0].update(basis="because"))
    assert "purposes[service].basis: unknown legal basis 'because'" in message


def test_a_purpose_with_an_unknown_category_is_named():
    message = broken(lambda d: d["purposes"][0]["categories"].append("health"))
    assert "purposes[service].categories: unknown category 'health'" in message


def test_special_categories_need_their_condition():
    def change(d):
        d["categories"]["health"] = {"description": "Health", "special": "art9"}
        d["purposes"][0]["categories"].append("health")

    message = broken(change)
    assert "purposes[service].special_condition: is required" in message


def test_a_transfer_outside_the_eea_without_safeguard_is_named():
    message = broken(lambda d: d["recipients"][0].pop("safeguard"))
    assert "recipients[Mailer Inc.].safeguard: is required: US is outside the EU/EEA" in message


def test_an_unknown_right_is_named():
    message = broken(lambda d: d["rights"]["offered"].append("be_forgotten"))
    assert "rights.offered: unknown right 'be_forgotten'" in message


def test_review_needs_a_decision_and_a_decision_needs_review():
    message = broken(lambda d: d["rights"]["offered"].append("human_review"))
    assert "human_review is offered but no [[automated_decisions]] exist" in message

    def decision(d):
        d["automated_decisions"] = [
            {
                "name": "Credit check",
                "purpose": "service",
                "basis": "contract",
                "logic": "Score",
                "consequences": "No invoice",
                "review": "Ask finance",
            }
        ]

    message = broken(decision)
    assert "rights.offered: must include human_review" in message


def test_a_link_to_an_unmapped_table_is_named():
    message = broken(
        lambda d: d["sources"][0]["tables"][1].update(link={"customer_id": "clients.id"})
    )
    assert (
        "sources[app].tables[orders].link.customer_id: links to 'clients', "
        "which is not mapped in this source"
    ) in message


def test_links_in_a_cycle_are_named():
    def change(d):
        d["sources"][0]["tables"][0].pop("identity")
        d["sources"][0]["tables"][0]["link"] = {"id": "orders.customer_id"}

    message = broken(change)
    assert "sources[app].tables: links form a cycle among: customers, orders" in message


def test_retain_without_a_basis_is_named():
    message = broken(lambda d: d["sources"][0]["tables"][1]["retain"].pop("basis"))
    assert "sources[app].tables[orders].retain.basis: is required" in message
    message = broken(lambda d: d["sources"][0]["tables"][1].pop("retain"))
    assert 'tables[orders].retain: is required when erasure = "retain"' in message
    message = broken(lambda d: d["sources"][0]["tables"][1]["retain"].update(exception="law"))
    assert "tables[orders].retain.exception: must be one of 17(3)(a)" in message


def test_anonymizing_needs_a_rule_for_every_column_and_never_keeps_an_email():
    message = broken(lambda d: d["sources"][0]["tables"][0]["columns"]["name"].pop("anonymize"))
    assert "tables[customers].columns.name.anonymize: is required when rows are anonymized" in (
        message
    )
    message = broken(
        lambda d: d["sources"][0]["tables"][0]["columns"]["email"].update(anonymize="keep")
    )
    assert "columns.email.anonymize: an email, personnummer or phone cannot be kept" in message


def test_a_table_the_subject_cannot_reach_is_named():
    message = broken(lambda d: d["sources"][0]["tables"][1].pop("link"))
    assert "tables[orders]: needs identity columns or a link to reach the subject" in message


def test_an_identity_column_must_be_mapped():
    message = broken(lambda d: d["sources"][0]["tables"][0]["identity"].update(personnummer="pnr"))
    assert "tables[customers].identity.personnummer: column 'pnr' is not in columns" in message
    message = broken(lambda d: d["sources"][0]["tables"][0]["identity"].update(ssn="ssn"))
    assert "tables[customers].identity.ssn: unknown identity" in message


def test_misspelt_keys_and_placeholders_are_named():
    message = broken(lambda d: d["controller"].update(privcy_email="x@test.example"))
    assert "controller.privcy_email: unknown key" in message
    message = broken(lambda d: d["sources"][0].update(url="sqlite:///{datadir}/x.sqlite3"))
    assert "sources[app].url: unknown placeholder {datadir}" in message


def test_every_problem_is_listed_at_once():
    def change(d):
        d["purposes"][0].pop("basis")
        d["rights"]["offered"].append("be_forgotten")
        d["recipients"][0].pop("safeguard")

    data = copy.deepcopy(VALID)
    change(data)
    with pytest.raises(ProfileError) as caught:
        parse_profile(data, key="test")
    assert len(caught.value.problems) == 3


def test_a_missing_or_malformed_file_is_reported(tmp_path):
    with pytest.raises(ProfileError, match="no file at"):
        load_profile(str(tmp_path / "nowhere.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[controller\nname = 'x'\n")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(str(bad))
    misplaced = tmp_path / "misplaced.toml"
    # A top-level key written below a [table] header lands in that table.
    misplaced.write_text(
        '[controller]\nname = "A"\nprivacy_email = "a@b.example"\n'
        'notify_instructions = "x"\n[categories]\nc = "C"\n'
    )
    with pytest.raises(ProfileError, match=r"controller\.notify_instructions: unknown key"):
        load_profile(str(misplaced))
