"""Each ward rule, as a table: a roster that breaks it and one that keeps it, checked through the
product's conversion (ward configuration → solver problem → independent checker → the ward rule
named on the cell). Hard rules show as violations (with their reason), soft ones in the score.

December 2026 starts on a Tuesday; the 5th/6th and 12th/13th are weekends; the 7th a Monday.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from medoa.modules.roster.choices import UnavailabilityKind
from medoa.modules.roster.models import Demand, Holiday, RosterCell, ShiftRequest, Unavailability, WardRule
from medoa.modules.roster.selectors import PRODUCT_RULE, roster_check

from .conftest import MONTH, Ward

D10 = dt.date(2026, 12, 10)


def _none(w: Ward) -> None:
    return None


def _max_nights_two(w: Ward) -> None:
    p = w.profile(0)
    p.max_nights_per_month = 2
    p.save()


def _pregnant(w: Ward) -> None:
    p = w.profile(0)
    p.pregnant_from = MONTH - dt.timedelta(days=10)
    p.save()


def _nursing(w: Ward) -> None:
    p = w.profile(0)
    p.nursing_until = MONTH + dt.timedelta(days=100)
    p.save()


def _no_rest_after_nights(w: Ward) -> None:
    WardRule.objects.create(ward=w.ward, code="days_off_after_nights", enabled=False)


def _cover_on_10th(w: Ward) -> None:
    Demand.objects.create(ward=w.ward, shift_type=w.shift("A"), on_date=D10, minimum=1, preferred=1)


def _skill_on_10th(w: Ward) -> None:
    Demand.objects.create(
        ward=w.ward,
        shift_type=w.shift("N"),
        on_date=D10,
        minimum=1,
        preferred=1,
        skill_level="N3",
        skill_minimum=1,
    )


def _preferred_two_on_10th(w: Ward) -> None:
    Demand.objects.create(ward=w.ward, shift_type=w.shift("A"), on_date=D10, minimum=0, preferred=2)


def _leave_on_10th(w: Ward) -> None:
    Unavailability.objects.create(staff=w.nurses[0], date=D10, kind=UnavailabilityKind.LEAVE)


def _off_request_10th(w: Ward) -> None:
    ShiftRequest.objects.create(staff=w.nurses[0], date=D10, on=False)


def _nights_end_of_november(w: Ward) -> None:
    november = w.roster(dt.date(2026, 11, 1))
    w.write(november, {0: "NN"}, start=dt.date(2026, 11, 29))


def _holidays(w: Ward) -> None:
    for d in (24, 25, 26):
        Holiday.objects.create(date=dt.date(2026, 12, d), name="测试节")


# id, set-up, rows that break the rule, rows that keep it, start day, the ward rule, hard?
# Rows: nurse index → one code a day from the start day ("." off). Nurse 0 is N3, 1 is N1, 2 is N0.
TABLE: list[tuple[str, Callable[[Ward], None], dict[int, str], dict[int, str], int, str, bool]] = [
    ("min_rest", _none, {0: "PA"}, {0: "P.A"}, 1, "min_rest", True),
    ("min_rest_evening_night", _none, {0: "PN"}, {0: "NP"}, 1, "min_rest", True),
    ("no_day_after_night", _no_rest_after_nights, {0: "NA"}, {0: "NP"}, 1, "no_day_after_night", True),
    ("max_consecutive_days", _none, {0: "AAAAAAA"}, {0: "AAAAAA.A"}, 1, "max_consecutive_days", True),
    ("max_consecutive_nights", _none, {0: "NNNN"}, {0: "NNN"}, 1, "max_consecutive_nights", True),
    ("days_off_after_nights", _none, {0: "NN.A"}, {0: "NN..A"}, 1, "days_off_after_nights", True),
    (
        "days_off_after_nights_across_months",
        _nights_end_of_november,
        {0: ".A"},
        {0: "..A"},
        1,
        "days_off_after_nights",
        True,
    ),
    ("weekly_hours", _none, {0: "AAAAAA"}, {0: "AAAAA..AAAAA"}, 1, "weekly_hours", True),
    ("rest_day_per_week", _none, {0: "AAAAAAA"}, {0: "AAAAAA."}, 7, "rest_day_per_week", True),
    ("max_nights_month", _max_nights_two, {0: "N...N...N"}, {0: "N...N...."}, 1, "max_nights_month", True),
    ("no_night_pregnant", _pregnant, {0: "N"}, {0: "A"}, 10, "no_night_protected", True),
    ("no_night_nursing", _nursing, {0: "N"}, {0: "P"}, 10, "no_night_protected", True),
    ("cover_minimum", _cover_on_10th, {0: "P"}, {0: "A"}, 10, "cover_minimum", True),
    ("skill_mix", _skill_on_10th, {2: "N"}, {0: "N"}, 10, "skill_mix", True),
    ("leave", _leave_on_10th, {0: "A"}, {0: ".", 1: "A"}, 10, "unavailable", True),
    ("cover_preferred", _preferred_two_on_10th, {0: "A"}, {0: "A", 1: "A"}, 10, "cover_preferred", False),
    ("requests", _off_request_10th, {0: "A"}, {0: "."}, 10, "requests", False),
    ("night_fairness", _none, {0: "N...N...N"}, {0: "N", 1: ".N", 2: "..N"}, 1, "night_fairness", False),
    ("weekend_fairness", _none, {0: "A......A"}, {0: "A", 1: "A", 2: "A"}, 5, "weekend_fairness", False),
    ("holiday_fairness", _holidays, {0: "A.A.A"}, {0: "A", 1: ".A", 2: "..A"}, 24, "holiday_fairness", False),
]


def _broken(w: Ward, rows: dict[int, str], start: int) -> tuple[set[str], set[str], list[Any]]:
    roster = w.roster()
    RosterCell.objects.filter(roster=roster).delete()
    w.write(roster, rows, start=MONTH.replace(day=start))
    _wm, _objective, violations, breakdown = roster_check(roster)
    soft = {PRODUCT_RULE.get(k, k) for k, v in breakdown.items() if v}
    return {v.code for v in violations}, soft, violations


@pytest.mark.parametrize(
    ("setup", "breaks", "keeps", "start", "code", "hard"),
    [pytest.param(*row[1:], id=row[0]) for row in TABLE],
)
def test_rule_table(
    ward_factory: Any,
    setup: Callable[[Ward], None],
    breaks: dict[int, str],
    keeps: dict[int, str],
    start: int,
    code: str,
    hard: bool,
) -> None:
    # given a ward of three nurses (N3, N1, N0) with the default rules and no standing demand
    w = ward_factory(["N3", "N1", "N0"])
    setup(w)

    # when a roster breaks the rule
    hard_codes, soft_codes, violations = _broken(w, breaks, start)
    # then the rule is named (hard: a violation on the cell with a reason; soft: in the score)
    if hard:
        assert code in hard_codes
        assert all(v.reason for v in violations)
    else:
        assert code in soft_codes
        assert code not in hard_codes

    # when a roster keeps it
    hard_codes, soft_codes, _violations = _broken(w, keeps, start)
    # then it is not named
    assert code not in hard_codes
    assert code not in soft_codes


def test_a_rule_made_soft_moves_into_the_score(ward_factory: Any) -> None:
    # given max consecutive nights configured soft with weight 7
    w = ward_factory(["N3"])
    WardRule.objects.create(ward=w.ward, code="max_consecutive_nights", hard=False, weight=7, value=3)
    # when four nights in a row are rostered
    hard_codes, soft_codes, _v = _broken(w, {0: "NNNN"}, 1)
    # then it is no violation, but it costs 7 in the score
    assert "max_consecutive_nights" not in hard_codes
    assert "max_consecutive_nights" in soft_codes


def test_a_disabled_rule_is_not_checked(ward_factory: Any) -> None:
    w = ward_factory(["N3"])
    WardRule.objects.create(ward=w.ward, code="max_consecutive_nights", enabled=False)
    hard_codes, soft_codes, _v = _broken(w, {0: "NNNN"}, 1)
    assert "max_consecutive_nights" not in hard_codes | soft_codes


def test_reasons_name_the_configured_values(ward_factory: Any) -> None:
    w = ward_factory(["N3"])
    WardRule.objects.create(ward=w.ward, code="max_consecutive_nights", value=2)
    _h, _s, violations = _broken(w, {0: "NNN"}, 1)
    reasons = {v.reason for v in violations if v.code == "max_consecutive_nights"}
    assert reasons == {"More than 2 nights in a row."} or reasons == {"连续夜班超过 2 天。"}
