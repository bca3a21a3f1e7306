"""The ward rules' defaults: Chinese labour law and ward practice.

Each ward may override any rule (``WardRule``: enabled, hard or soft, weight, value); a rule
without a row takes its default here. ``rules_for_ward`` gives the ward's effective set.
"""

from __future__ import annotations

from dataclasses import dataclass

from medoa.core.org.models import Department

from .choices import RuleCode
from .models import WardRule


@dataclass(frozen=True)
class RuleSetting:
    code: str
    enabled: bool
    hard: bool
    weight: int
    value: int = 0

    @property
    def label(self) -> str:
        return str(RuleCode(self.code).label)


# code: (enabled, hard, weight when soft, value)
DEFAULTS: dict[str, RuleSetting] = {
    s.code: s
    for s in (
        # 劳动法 / 护理排班惯例: at least 11 hours between two shifts.
        RuleSetting(RuleCode.MIN_REST, True, True, 100, 11),
        # 下夜班不接白班.
        RuleSetting(RuleCode.NO_DAY_AFTER_NIGHT, True, True, 100),
        RuleSetting(RuleCode.MAX_CONSECUTIVE_DAYS, True, True, 100, 6),
        RuleSetting(RuleCode.MAX_CONSECUTIVE_NIGHTS, True, True, 100, 3),
        # 夜休: two days off after the last night of a block.
        RuleSetting(RuleCode.DAYS_OFF_AFTER_NIGHTS, True, True, 100, 2),
        # The contract's 40 or 44 hours in every 7 days (value unused: the contract says).
        RuleSetting(RuleCode.WEEKLY_HOURS, True, True, 100),
        # 每周至少休息一日 (劳动法第三十八条).
        RuleSetting(RuleCode.REST_DAY_PER_WEEK, True, True, 100, 1),
        RuleSetting(RuleCode.MAX_NIGHTS_MONTH, True, True, 100),
        # 孕期七个月以上、哺乳期不安排夜班 (女职工劳动保护特别规定).
        RuleSetting(RuleCode.NO_NIGHT_PROTECTED, True, True, 1000),
        RuleSetting(RuleCode.COVER_MINIMUM, True, True, 100),
        RuleSetting(RuleCode.COVER_PREFERRED, True, False, 10),
        RuleSetting(RuleCode.SKILL_MIX, True, True, 100),
        # weight per priority step (low 1×, normal 2×, high 3×)
        RuleSetting(RuleCode.REQUESTS, True, False, 5),
        # value: the spread tolerated between the most and the least loaded person
        RuleSetting(RuleCode.NIGHT_FAIRNESS, True, False, 20, 1),
        RuleSetting(RuleCode.WEEKEND_FAIRNESS, True, False, 10, 1),
        RuleSetting(RuleCode.HOLIDAY_FAIRNESS, True, False, 10, 1),
    )
}
ORDER = [code.value for code in RuleCode]


def rules_for_ward(ward: Department) -> dict[str, RuleSetting]:
    """The ward's effective rules: its ``WardRule`` rows over the defaults."""
    effective = dict(DEFAULTS)
    for row in WardRule.objects.filter(ward=ward):
        if row.code in effective:
            effective[row.code] = RuleSetting(row.code, row.enabled, row.hard, row.weight, row.value)
    return {code: effective[code] for code in ORDER if code in effective}
