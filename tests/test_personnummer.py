"""Personnummer and samordningsnummer (LEGAL.md E4): forms, dates, check digit, century sign."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from personnummer.personnummer import Personnummer as LibraryPersonnummer
from personnummer.personnummer import PersonnummerException

from dsr import personnummer as pnr

TODAY = date(2026, 11, 21)


def with_check(nine: str) -> str:
    """Nine digits (YYMMDDNNN) plus their Luhn digit."""
    return nine + str(pnr.luhn_digit(nine))


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("640823-3234", "196408233234"),
        ("19640823-3234", "196408233234"),
        ("6408233234", "196408233234"),
        ("196408233234", "196408233234"),
        ("  640823-3234 ", "196408233234"),
        ("701063-2391", "197010632391"),
        ("19701063-2391", "197010632391"),
    ],
)
def test_the_examples_of_the_legal_notes_are_valid_and_normalised_to_12_digits(raw, digits):
    number = pnr.parse(raw, TODAY)
    assert number.digits == digits
    assert number.masked == f"{digits[:8]}-****"


@pytest.mark.parametrize(
    "raw",
    [
        "640823-3235",  # wrong check digit (LEGAL.md E4)
        "19640823-3235",
        "640823-323",  # too short
        "64082332345",  # 11 digits
        "1964082332345",  # 13 digits
        "640823 3234",  # space is not a separator
        "640823/3234",
        "64O823-3234",  # letter O
        "６４０８２３-３２３４",  # full-width digits
        "640823-\x003234",  # a control character inside
        "",
        "-",
    ],
)
def test_malformed_or_wrong_numbers_are_refused(raw):
    with pytest.raises(pnr.InvalidPersonnummer):
        pnr.parse(raw, TODAY)
    assert not pnr.is_valid(raw, TODAY)


def test_a_samordningsnummer_carries_the_day_plus_60():
    number = pnr.parse("701063-2391", TODAY)
    assert number.coordination
    assert number.birth_date == date(1970, 10, 3)
    assert not pnr.parse("640823-3234", TODAY).coordination


@pytest.mark.parametrize(
    "nine",
    [
        "640230323",  # 30 February
        "641323323",  # month 13
        "640800323",  # day 0
        "640832323",  # day 32 (and not 61-91)
        "640892323",  # day 92 would be samordningsnummer day 32
        "010229323",  # 2001 was not a leap year
    ],
)
def test_the_date_part_must_be_a_date(nine):
    with pytest.raises(pnr.InvalidPersonnummer, match="date"):
        pnr.parse(with_check(nine), TODAY)


def test_leap_days_follow_the_calendar():
    serial = with_check("000229323")[6:]
    assert pnr.parse("20000229" + serial, TODAY).birth_date == date(2000, 2, 29)
    with pytest.raises(pnr.InvalidPersonnummer):
        pnr.parse("19000229" + serial, TODAY)  # 1900 was not a leap year


def test_birth_number_000_is_never_issued():
    with pytest.raises(pnr.InvalidPersonnummer, match="000"):
        pnr.parse(with_check("640823000"), TODAY)


def test_plus_means_the_person_turns_100_this_year_or_is_older():
    assert pnr.parse("640823+3234", TODAY).digits == "186408233234"
    assert pnr.parse("18640823+3234", TODAY).digits == "186408233234"
    # With the century written out, + must agree with it.
    with pytest.raises(pnr.InvalidPersonnummer, match=r"\+"):
        pnr.parse("19640823+3234", TODAY)


def test_the_sign_changes_on_new_years_day_of_the_hundredth_birthday_year():
    # Born 31 December 1926: in 2026 they turn 100, so from 1 January 2026 the number has +.
    nine = "261231323"
    assert pnr.parse(with_check(nine)[:6] + "+" + with_check(nine)[6:], TODAY).birth_date == (
        date(1926, 12, 31)
    )
    # With - it would mean 31 December 2026, which has not come yet.
    with pytest.raises(pnr.InvalidPersonnummer, match="future"):
        pnr.parse(with_check(nine)[:6] + "-" + with_check(nine)[6:], TODAY)
    # A year earlier the same person still wrote -.
    assert pnr.parse(
        with_check(nine)[:6] + "-" + with_check(nine)[6:], date(2025, 12, 31)
    ).birth_date == date(1926, 12, 31)


def test_someone_born_today_has_a_valid_number_and_tomorrow_not_yet():
    today = with_check(TODAY.strftime("%y%m%d") + "323")
    assert pnr.parse(today, TODAY).birth_date == TODAY
    tomorrow = TODAY + timedelta(days=1)
    with pytest.raises(pnr.InvalidPersonnummer):
        pnr.parse("20" + with_check(tomorrow.strftime("%y%m%d") + "323"), TODAY)


def test_the_full_number_never_shows_in_repr_or_str():
    number = pnr.parse("640823-3234", TODAY)
    assert "3234" not in repr(number) and "3234" not in str(number)
    assert number.formatted == "19640823-3234"


@given(
    born=st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    serial=st.integers(min_value=0, max_value=999),
    check=st.integers(min_value=0, max_value=9),
    coordination=st.booleans(),
)
def test_agrees_with_the_personnummer_package_on_12_digit_numbers(
    born, serial, check, coordination
):
    """The package is a second opinion; our own rules stay the ones we test above."""
    day = born.day + (60 if coordination else 0)
    raw = f"{born:%Y%m}{day:02d}{serial:03d}{check}"
    try:
        theirs = LibraryPersonnummer(raw).format(long_format=True)
    except PersonnummerException:
        theirs = None
    ours = pnr.parse(raw, TODAY).digits if pnr.is_valid(raw, TODAY) else None
    assert ours == theirs
