"""The deadline engine against every worked example in LEGAL.md, plus properties over many dates."""

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsr import deadlines
from dsr.deadlines import Regime

D = date.fromisoformat


def legal(received: str, **kw) -> date:
    return deadlines.due_for_date(D(received), **kw).legal


def target(received: str, **kw) -> date:
    return deadlines.due_for_date(D(received), **kw).target


# --- A1-A3: start, month end, roll-forward --------------------------------------------------


def test_a1_same_date_next_month_rolled_past_easter():
    assert target("2026-03-05") == D("2026-04-05")  # EDPB example 32; påskdagen
    assert legal("2026-03-05") == D("2026-04-07")  # past annandag påsk to Tuesday


@pytest.mark.parametrize(
    ("received", "unrolled"),
    [
        ("2026-01-31", "2026-02-28"),
        ("2026-03-31", "2026-04-30"),
        ("2028-01-31", "2028-02-29"),
        ("2026-08-31", "2026-09-30"),
    ],
)
def test_a2_missing_date_clamps_to_month_end(received, unrolled):
    assert target(received) == D(unrolled)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        ("2026-01-31", "2026-03-02"),  # Sat 02-28 -> Mon
        ("2026-04-30", "2026-06-01"),  # Sat 05-30 -> Mon
        ("2026-03-03", "2026-04-07"),  # långfredagen, then Easter
        ("2026-12-01", "2027-01-04"),  # nyårsdagen, then the weekend
    ],
)
def test_a3_roll_forward_past_weekends_and_holidays(received, due):
    assert legal(received) == D(due)


def test_a6_received_date_is_the_stockholm_date():
    moment = datetime.fromisoformat("2026-01-31T23:30:00+00:00")
    assert deadlines.received_date(moment) == D("2026-02-01")
    result = deadlines.due(moment)
    assert result.target == D("2026-03-01") and result.legal == D("2026-03-02")


def test_a6_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        deadlines.received_date(datetime(2026, 1, 31, 23, 30))


def test_a8_extension_adds_two_months_to_the_unrolled_first_due_date():
    assert target("2026-01-31", extended=True) == D("2026-04-28")
    assert legal("2026-01-31", extended=True) == D("2026-04-28")


def test_a9_pauses_move_the_unrolled_date_by_whole_days_then_roll():
    # 2026-03-05 -> unrolled 04-05; 3 paused days -> 04-08 (a Wednesday, working day).
    assert deadlines.due_for_date(D("2026-03-05"), paused_days=3) == deadlines.Due(
        D("2026-04-08"), D("2026-04-08")
    )
    # 2026-03-02 -> 04-02; 1 day -> 04-03 långfredagen -> rolls to 04-07.
    assert legal("2026-03-02", paused_days=1) == D("2026-04-07")


def test_a9_paused_days_are_whole_calendar_days_in_stockholm():
    t = datetime.fromisoformat
    pauses = [
        (t("2026-03-10T09:00:00+01:00"), t("2026-03-12T08:00:00+01:00")),  # 2 days
        (t("2026-03-20T23:30:00+01:00"), t("2026-03-21T00:10:00+01:00")),  # crosses midnight: 1
        (t("2026-03-25T10:00:00+01:00"), t("2026-03-25T16:00:00+01:00")),  # same day: 0
    ]
    assert deadlines.paused_days(pauses, now=t("2026-04-01T00:00:00+02:00")) == 3
    still_open = [(t("2026-03-10T09:00:00+01:00"), None)]
    assert deadlines.paused_days(still_open, now=t("2026-03-15T09:00:00+01:00")) == 5


# --- E2-E3: the Swedish calendar --------------------------------------------------------------


HOLIDAYS_2026 = {
    "nyårsdagen": "2026-01-01",
    "trettondedag jul": "2026-01-06",
    "långfredagen": "2026-04-03",
    "påskdagen": "2026-04-05",
    "annandag påsk": "2026-04-06",
    "första maj": "2026-05-01",
    "Kristi himmelsfärdsdag": "2026-05-14",
    "pingstdagen": "2026-05-24",
    "nationaldagen": "2026-06-06",
    "midsommardagen": "2026-06-20",
    "alla helgons dag": "2026-10-31",
    "juldagen": "2026-12-25",
    "annandag jul": "2026-12-26",
}


@pytest.mark.parametrize(("name", "day"), HOLIDAYS_2026.items())
def test_e2_every_swedish_public_holiday_is_closed(name, day):
    assert not deadlines.is_working_day(D(day)), name


def test_e2_holiday_rules_hold_for_other_years():
    from dateutil.easter import easter  # independent Easter computation for the check

    for year in range(2024, 2040):
        e = easter(year)
        for offset in (-2, 0, 1, 39, 49):
            assert not deadlines.is_working_day(e + timedelta(days=offset)), (year, offset)
        midsommardagen = next(
            D(f"{year}-06-{d:02d}") for d in range(20, 27) if D(f"{year}-06-{d:02d}").weekday() == 5
        )
        assert not deadlines.is_working_day(midsommardagen)
        for fixed in ("01-01", "01-06", "05-01", "06-06", "12-25", "12-26"):
            assert not deadlines.is_working_day(D(f"{year}-{fixed}"))


def test_e2_annandag_pingst_is_a_working_day():
    assert deadlines.is_working_day(D("2026-05-25"))


def test_e3_eves_are_working_days_unless_the_setting_says_otherwise():
    assert legal("2026-05-19") == D("2026-06-19")
    assert legal("2026-05-19", eves_are_holidays=True) == D("2026-06-22")
    assert legal("2026-11-24") == D("2026-12-24")
    assert legal("2026-11-24", eves_are_holidays=True) == D("2026-12-28")
    # A day's pause puts the unrolled date on nyårsafton, Thursday 2026-12-31.
    assert legal("2026-11-30", paused_days=1) == D("2026-12-31")
    assert legal("2026-11-30", paused_days=1, eves_are_holidays=True) == D("2027-01-04")


# --- F: CCPA ----------------------------------------------------------------------------------


def test_f_ccpa_counts_45_calendar_days_without_rolling():
    assert legal("2026-03-01", regime=Regime.ccpa) == D("2026-04-15")
    # 2026-03-21 + 45 = 2026-05-05; a Tuesday, but no rolling applies even on a weekend:
    assert legal("2026-03-20", regime=Regime.ccpa) == D("2026-05-04")
    assert legal("2026-04-16", regime=Regime.ccpa) == D("2026-05-31")  # a Sunday, not rolled


def test_f_ccpa_extension_adds_45_more_days():
    assert legal("2026-03-01", regime=Regime.ccpa, extended=True) == D("2026-05-30")


# --- derived at read time --------------------------------------------------------------------


def test_days_left_and_state():
    due = D("2026-04-07")
    assert deadlines.days_left(due, D("2026-04-07")) == 0
    assert deadlines.days_left(due, D("2026-04-08")) == -1
    assert deadlines.due_state(due, D("2026-04-08"), 5) == deadlines.DueState.overdue
    assert deadlines.due_state(due, D("2026-04-02"), 5) == deadlines.DueState.due_soon
    assert deadlines.due_state(due, D("2026-04-01"), 5) == deadlines.DueState.later


def test_the_engine_imports_neither_flask_nor_the_database():
    import ast
    from pathlib import Path

    source = Path(deadlines.__file__).read_text(encoding="utf-8")
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert not {
        m for m in imported if m.split(".")[0] in {"flask", "sqlalchemy", "sqlmodel", "dsr"}
    }


# --- properties -------------------------------------------------------------------------------

dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2045, 12, 31))


@settings(max_examples=400, deadline=None)
@given(received=dates, eves=st.booleans(), extended=st.booleans(), paused=st.integers(0, 60))
def test_legal_due_date_properties(received, eves, extended, paused):
    result = deadlines.due_for_date(
        received, extended=extended, paused_days=paused, eves_are_holidays=eves
    )
    assert result.legal >= result.target
    assert result.legal.weekday() < 5
    assert deadlines.is_working_day(result.legal, eves_are_holidays=eves)
    # Never more than a long Easter or Christmas weekend later than the unrolled date.
    assert (result.legal - result.target).days <= 5
    assert result.target > received


@settings(max_examples=300, deadline=None)
@given(received=dates, eves=st.booleans(), paused=st.integers(0, 60))
def test_an_extension_never_shortens_the_deadline(received, eves, paused):
    plain = deadlines.due_for_date(received, paused_days=paused, eves_are_holidays=eves)
    extended = deadlines.due_for_date(
        received, extended=True, paused_days=paused, eves_are_holidays=eves
    )
    assert extended.target > plain.target and extended.legal >= plain.legal


@settings(max_examples=300, deadline=None)
@given(
    received=dates,
    eves=st.booleans(),
    paused=st.integers(0, 120),
    regime=st.sampled_from(list(Regime)),
)
def test_a_pause_of_n_days_moves_the_deadline_by_at_least_n(received, eves, paused, regime):
    before = deadlines.due_for_date(received, regime=regime, eves_are_holidays=eves)
    after = deadlines.due_for_date(
        received, regime=regime, paused_days=paused, eves_are_holidays=eves
    )
    assert (after.target - before.target).days == paused
    # Rolling can eat into the shift only up to what the earlier date had already rolled.
    assert (after.legal - before.target).days >= paused


@settings(max_examples=200, deadline=None)
@given(received=dates)
def test_ccpa_is_always_45_or_90_days(received):
    assert (deadlines.due_for_date(received, regime=Regime.ccpa).legal - received).days == 45
    assert (
        deadlines.due_for_date(received, regime=Regime.ccpa, extended=True).legal - received
    ).days == 90
