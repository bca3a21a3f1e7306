"""The generic rostering problem and its solution (pure Python, no Django, no OR-Tools).

Days are indexes ``0 .. horizon-1``; ``start_weekday`` is the weekday of day 0 (0 = Monday).
An assignment is ``{staff_id: [shift_id or None for each day]}`` (``None`` = day off).

Rules (``RuleSet``, keyed by name; every rule is hard or soft with a weight):

Base rules (Curtois & Qu; enabled and hard by default):
  ``days_off``, ``forbidden_follow``, ``max_shifts`` (per type), ``max_minutes``, ``min_minutes``,
  ``max_consecutive``, ``min_consecutive``, ``min_consecutive_off`` (stretches touching the start
  or the end of the horizon are exempt from the minimums), ``max_weekends`` (a weekend counts when
  Saturday or Sunday is worked), ``fixed`` (locked cells).
Objective rules (always soft, weights on the data): ``shift_on_request``, ``shift_off_request``,
  ``cover_under``, ``cover_over`` (a ``Cover`` with ``hard=True`` makes its under-cover a hard rule,
  ``cover_minimum``), ``keep_previous`` (re-planning: each cell outside ``replan_days`` that differs
  from ``previous`` costs the rule weight).
Product rules (off by default; ``Rule.value`` is the parameter):
  ``max_consecutive_nights`` (value = nights), ``rest_after_nights`` (value = days off after the
  last night of a block), ``min_rest_minutes`` (value = minutes between the end of a shift and the
  start of the next, from ``Shift.start_minute``/``minutes``), ``weekly_minutes`` (value = limit
  per sliding 7-day window; ``Staff.weekly_minutes`` overrides it), ``weekly_rest_day`` (at least one
  day off in every full calendar week Monday–Sunday), ``no_night`` (staff with ``no_night`` work no
  ``kind == "night"`` shift), ``fair_nights`` / ``fair_weekends`` / ``fair_holidays`` (value =
  tolerated spread: penalty = weight × max(0, (max − min over staff of history + this roster) −
  value); history keys ``"nights"``, ``"weekends"``, ``"holidays"``; staff with ``no_night`` are
  left out of night fairness).

Penalty units of a softened rule: a sum rule costs weight × excess (minutes for the minute rules,
shifts/weekends otherwise); a pattern rule (stretch minimums, forbidden successions, rest) costs
weight per occurrence; a window rule costs weight per window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HARD_RULES = (
    "days_off",
    "forbidden_follow",
    "max_shifts",
    "max_minutes",
    "min_minutes",
    "max_consecutive",
    "min_consecutive",
    "min_consecutive_off",
    "max_weekends",
    "fixed",
)
PRODUCT_RULES = (
    "max_consecutive_nights",
    "rest_after_nights",
    "min_rest_minutes",
    "weekly_minutes",
    "weekly_rest_day",
    "no_night",
    "fair_nights",
    "fair_weekends",
    "fair_holidays",
)
OBJECTIVE_RULES = (
    "shift_on_request",
    "shift_off_request",
    "cover_under",
    "cover_over",
    "cover_minimum",
    "keep_previous",
)
FAIRNESS_KEYS = {"fair_nights": "nights", "fair_weekends": "weekends", "fair_holidays": "holidays"}


@dataclass(frozen=True)
class Shift:
    id: str
    minutes: int
    start_minute: int = 0  # minutes after midnight of the day the shift belongs to
    kind: str = "day"  # day | evening | night | oncall


@dataclass(frozen=True, eq=False)
class Staff:
    id: str
    max_shifts: dict[str, int] = field(default_factory=dict)  # shift id -> max count; absent = no limit
    max_minutes: int = 10**9
    min_minutes: int = 0
    max_consecutive: int = 10**6
    min_consecutive: int = 1
    min_consecutive_off: int = 1
    max_weekends: int = 10**6
    skills: frozenset[str] = frozenset()
    no_night: bool = False
    weekly_minutes: int | None = None  # contract limit per 7-day window (rule weekly_minutes)


@dataclass(frozen=True)
class Cover:
    day: int
    shift: str
    requirement: int
    weight_under: int
    weight_over: int = 0
    skill: str | None = None  # counts only staff with this skill (skill mix)
    hard: bool = False  # under-cover is the hard rule cover_minimum


@dataclass(frozen=True)
class Request:
    staff: str
    day: int
    shift: str | None  # None: any shift (an "off" request for the whole day / "work" request)
    on: bool  # True: wants to work it; False: wants it off
    weight: int


@dataclass
class Rule:
    enabled: bool = True
    hard: bool = True
    weight: int = 1
    value: int = 0


def default_rules() -> dict[str, Rule]:
    rules = {name: Rule() for name in HARD_RULES}
    rules["cover_minimum"] = Rule()
    rules["max_consecutive_nights"] = Rule(enabled=False, value=3)
    rules["rest_after_nights"] = Rule(enabled=False, value=2)
    rules["min_rest_minutes"] = Rule(enabled=False, value=11 * 60)
    rules["weekly_minutes"] = Rule(enabled=False, value=40 * 60)
    rules["weekly_rest_day"] = Rule(enabled=False)
    rules["no_night"] = Rule(enabled=False)
    for name in FAIRNESS_KEYS:
        rules[name] = Rule(enabled=False, hard=False, weight=10, value=1)
    rules["keep_previous"] = Rule(enabled=True, hard=False, weight=50)
    return rules


@dataclass
class Problem:
    horizon: int
    shifts: list[Shift]
    staff: list[Staff]
    start_weekday: int = 0
    forbidden_follow: dict[str, set[str]] = field(default_factory=dict)  # shift -> shifts not next day
    days_off: dict[str, set[int]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    cover: list[Cover] = field(default_factory=list)
    fixed: dict[tuple[str, int], str | None] = field(default_factory=dict)  # locked cells
    previous: dict[str, list[str | None]] | None = None  # re-planning baseline
    replan_days: set[int] = field(default_factory=set)  # days free to change without penalty
    holidays: set[int] = field(default_factory=set)
    history: dict[str, dict[str, int]] = field(default_factory=dict)  # fairness ledger
    rules: dict[str, Rule] = field(default_factory=default_rules)

    def rule(self, name: str) -> Rule:
        r = self.rules.get(name)
        if r is None:
            r = default_rules().get(name, Rule(enabled=False))
        return r

    def is_weekend(self, day: int) -> bool:
        return (self.start_weekday + day) % 7 >= 5

    def weekend_index(self, day: int) -> int:
        return (self.start_weekday + day) // 7


@dataclass(frozen=True)
class Violation:
    rule: str
    staff: str | None
    day: int | None
    message: str
    days: tuple[int, ...] = ()


@dataclass
class Solution:
    assignment: dict[str, list[str | None]]
    objective: int
    breakdown: dict[str, int]
    hard_violations: list[Violation]
    status: str  # optimal | feasible | infeasible | unknown
    first_feasible_s: float | None
    seconds: float
    explanation: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
