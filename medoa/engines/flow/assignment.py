"""Who gets a user task, and when it is due — resolved once, when the task is created.

The rules are BPMN attributes (Camunda 7 names) so that models drawn elsewhere work:

* ``camunda:assignee`` — a username, or ``${expr}`` whose value is a username or a list of them;
* ``camunda:candidateUsers`` — comma-separated usernames, each possibly ``${expr}``;
* ``camunda:candidateGroups`` — comma-separated entries:

  - a department-scoped role (``dept_head``, ``head_nurse``, ``doctor``, ``nurse`` or any role
    whose scope is "department"): its holders *for the initiator's department*, walking up the
    tree when the department has none (``medoa.core.org.selectors.role_holders``);
  - ``<role>@<dept code>`` or ``<role>@${expr}``: the same for the department whose code is given;
  - a hospital-wide role (``medical_affairs``, ``finance`` …): everyone holding it anywhere;
  - ``leader:1`` / ``leader:2``: the leader one or two levels above the initiator
    (``leader_above``);
  - ``${expr}``: an expression giving any of the above (a text or a list of texts).

When ``assignee`` is given it wins; otherwise the candidates of both lists are pooled. Exactly one
person → the task is assigned to them; several → they are candidates who may claim it; nobody →
``FlowInputError`` naming the step and the rule ("no one holds dept_head for 心血管内科").

Delegations (委托): a person with a delegation in force for this process type at creation time is
replaced by the delegate, and ``on_behalf_of`` keeps the original person (for candidates the
mapping is kept in ``Assignment.delegated`` so that a claim can record it).

What resolution reads of the organisation — people by username, role holders per department,
leaders, roles, who has delegations at all — is kept per process for
``MEDOA_ACCESS_CACHE_SECONDS`` (``medoa.core.access.cache.org_fact``): every step of every process
reads it, and it changes rarely. A change made through the org services drops it at once in that
process; other processes see it within that many seconds (5 by default), the same bound as
permission changes.

Due dates (``camunda:dueDate``): an ISO 8601 duration from now (``P3D``, ``PT4H``), a date or
date-time (a bare date means the end of that day, local time), or ``${expr}`` giving one of those,
a ``timedelta`` or a ``datetime``. ``remind_before`` (a ``camunda:property``) is an ISO duration.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from medoa.core.access.cache import org_fact
from medoa.core.org.choices import RoleScope
from medoa.core.org.models import Delegation, Department, Role, Staff
from medoa.core.org.roles import DEPARTMENT_ROLE_CODES
from medoa.core.org.selectors import (
    active_delegate_for,
    department_root,
    leader_above,
    role_holders,
    role_members,
)
from medoa.engines.rules.expressions import ExpressionError, evaluate

from .errors import FlowInputError, fmt, localized

_EXPR = re.compile(r"^\s*[$#]\{(?P<body>.*)\}\s*$", re.S)
_LEADER = re.compile(r"^leader:(?P<levels>[1-9])$")
_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+(?:[.,]\d+)?)Y)?(?:(?P<months>\d+(?:[.,]\d+)?)M)?(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?"
    r"(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$",
    re.I,
)
MAX_CANDIDATES = 500


class TaskRules(Protocol):
    """What assignment needs of a user task (``medoa.engines.flow.spiff.UserTaskInfo`` fits)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def assignee(self) -> str | None: ...
    @property
    def candidate_users(self) -> list[str]: ...
    @property
    def candidate_groups(self) -> list[str]: ...
    @property
    def due_date(self) -> str | None: ...


@dataclass
class Assignment:
    """The result: ``assignee`` (with ``on_behalf_of`` when delegated) or ``candidates``."""

    assignee: Staff | None = None
    on_behalf_of: Staff | None = None
    candidates: list[Staff] = field(default_factory=list)
    # delegate staff id → the candidate they stand in for
    delegated: dict[int, Staff] = field(default_factory=dict)


# --- expressions ---------------------------------------------------------------------------------


def expression_body(text: str) -> str | None:
    """The inside of ``${…}`` / ``#{…}``, or ``None`` when ``text`` is not wrapped."""
    m = _EXPR.match(text or "")
    return m.group("body").strip() if m else None


def _evaluate(text: str, variables: Mapping[str, Any], *, step: str, rule: str) -> Any:
    try:
        return evaluate(text, variables)
    except ExpressionError as exc:
        raise FlowInputError(
            fmt(
                _("Step “%(step)s”: the rule “%(rule)s” cannot be evaluated: %(error)s"),
                {"step": step, "rule": rule, "error": exc.message},
            )
        ) from exc


def _texts(value: Any, *, step: str, rule: str) -> list[str]:
    """A text or list of texts (comma-separated texts are split); anything else is an error."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple | set | frozenset):
        out: list[str] = []
        for item in value:
            out.extend(_texts(item, step=step, rule=rule))
        return out
    raise FlowInputError(
        fmt(
            _(
                "Step “%(step)s”: the rule “%(rule)s” must give a username or a list of usernames, not %(value)s."  # noqa: E501
            ),
            {"step": step, "rule": rule, "value": repr(value)[:80]},
        )
    )


def expand(text: str, variables: Mapping[str, Any], *, step: str) -> list[str]:
    """``text`` as a list of plain entries: ``${expr}`` evaluated, comma lists split."""
    body = expression_body(text)
    if body is None:
        return [part.strip() for part in text.split(",") if part.strip()]
    return _texts(_evaluate(text, variables, step=step, rule=text), step=step, rule=text)


# --- people --------------------------------------------------------------------------------------


def _staff_by_username(usernames: Sequence[str], *, step: str, rule: str) -> list[Staff]:
    if not usernames:
        return []
    wanted = tuple(sorted(set(usernames)))

    def load() -> dict[str, Staff]:
        return {
            s.user.username: s
            for s in Staff.objects.filter(user__username__in=wanted).select_related("user", "department")
        }

    found = org_fact(("staff_by_username", wanted), load)
    missing = [u for u in usernames if u not in found]
    if missing:
        raise FlowInputError(
            fmt(
                _("Step “%(step)s”: the rule “%(rule)s” names an unknown user “%(user)s”."),
                {"step": step, "rule": rule, "user": missing[0]},
            )
        )
    inactive = [u for u in usernames if not (found[u].is_active and found[u].user.is_active)]
    if inactive:
        raise FlowInputError(
            fmt(
                _("Step “%(step)s”: the rule “%(rule)s” names “%(user)s”, who is no longer active."),
                {"step": step, "rule": rule, "user": inactive[0]},
            )
        )
    return [found[u] for u in dict.fromkeys(usernames)]


def _department_by_code(code: str, *, step: str, rule: str) -> Department:
    department = Department.objects.filter(code=code).first()
    if department is None:
        raise FlowInputError(
            fmt(
                _("Step “%(step)s”: the rule “%(rule)s” names an unknown department “%(code)s”."),
                {"step": step, "rule": rule, "code": code},
            )
        )
    return department


def _nobody(step: str, role: str, where: Any) -> FlowInputError:
    return FlowInputError(
        fmt(
            _("Step “%(step)s”: no one holds %(role)s for %(department)s."),
            {"step": step, "role": role, "department": where},
        )
    )


def _holders(code: str, department: Department) -> list[Staff]:
    return org_fact(("holders", code, department.pk), lambda: role_holders(code, department))


def _roles(codes: frozenset[str]) -> dict[str, Role]:
    return org_fact(("roles", codes), lambda: {r.code: r for r in Role.objects.filter(code__in=codes)})


def _delegators() -> frozenset[int]:
    """The people with a delegation that has not ended (in force now or later): only they can
    have one in force when a task is created."""
    now = timezone.now()
    return org_fact(
        ("delegators",),
        lambda: frozenset(
            Delegation.objects.filter(revoked_at__isnull=True, ends_at__gt=now).values_list(
                "delegator_id", flat=True
            )
        ),
    )


def _delegate_for(person: Staff, process_key: str, at: datetime.datetime | None) -> Staff | None:
    if person.pk not in _delegators():
        return None
    return active_delegate_for(person, process_key, at)


def _group_members(
    entry: str, variables: Mapping[str, Any], initiator: Staff | None, roles: dict[str, Role], *, step: str
) -> list[Staff]:
    """The people one ``candidateGroups`` entry names (never empty: nobody is an error)."""
    leader = _LEADER.match(entry)
    if leader:
        levels = int(leader.group("levels"))
        if initiator is None:
            raise FlowInputError(
                fmt(_("Step “%(step)s”: “%(rule)s” needs an initiator."), {"step": step, "rule": entry})
            )
        found = org_fact(("leader", initiator.pk, levels), lambda: leader_above(initiator, levels))
        if found is None:
            raise FlowInputError(
                fmt(
                    _("Step “%(step)s”: there is no leader %(levels)s level(s) above %(name)s."),
                    {"step": step, "levels": levels, "name": initiator.name},
                )
            )
        return [found]
    code, at, where = entry.partition("@")
    code = code.strip()
    role = roles.get(code)
    if role is None:
        raise FlowInputError(
            fmt(_("Step “%(step)s”: “%(role)s” is not a known role."), {"step": step, "role": code})
        )
    if at:
        where = where.strip()
        dept_codes = expand(where, variables, step=step) if expression_body(where) is not None else [where]
        if len(dept_codes) != 1:
            raise FlowInputError(
                fmt(
                    _("Step “%(step)s”: the rule “%(rule)s” must give exactly one department code."),
                    {"step": step, "rule": entry},
                )
            )
        department = _department_by_code(dept_codes[0], step=step, rule=entry)
        people = _holders(code, department)
        if not people:
            raise _nobody(step, code, localized(department.name_zh, department.name_en))
        return people
    if code in DEPARTMENT_ROLE_CODES or role.scope == RoleScope.DEPARTMENT:
        if initiator is None:
            raise FlowInputError(
                fmt(_("Step “%(step)s”: “%(rule)s” needs an initiator."), {"step": step, "rule": entry})
            )
        people = _holders(code, initiator.department)
        if not people:
            raise _nobody(step, code, localized(initiator.department.name_zh, initiator.department.name_en))
        return people
    root = org_fact(("root",), department_root)
    people = org_fact(("members", code), lambda: list(role_members(code, root)) if root is not None else [])
    if not people:
        raise _nobody(step, code, localized(root.name_zh, root.name_en) if root is not None else "—")
    return people


def resolve_people(rules: TaskRules, variables: Mapping[str, Any], initiator: Staff | None) -> list[Staff]:
    """Everyone the task's rules name, in rule order, without duplicates (no delegation yet)."""
    step = rules.name or rules.id
    if rules.assignee:
        usernames = expand(rules.assignee, variables, step=step)
        people = _staff_by_username(usernames, step=step, rule=rules.assignee)
        if not people:
            raise FlowInputError(
                fmt(
                    _("Step “%(step)s”: the rule “%(rule)s” gives nobody."),
                    {"step": step, "rule": rules.assignee},
                )
            )
        return people
    pooled: dict[int, Staff] = {}
    for rule in rules.candidate_users:
        for person in _staff_by_username(expand(rule, variables, step=step), step=step, rule=rule):
            pooled.setdefault(person.pk, person)
    entries: list[str] = []
    for rule in rules.candidate_groups:
        entries.extend(expand(rule, variables, step=step) if expression_body(rule) is not None else [rule])
    if entries:
        codes = {e.partition("@")[0].strip() for e in entries if not _LEADER.match(e)}
        roles = _roles(frozenset(codes)) if codes else {}
        for entry in entries:
            for person in _group_members(entry, variables, initiator, roles, step=step):
                pooled.setdefault(person.pk, person)
    if not pooled:
        rule_text = ", ".join([*rules.candidate_users, *rules.candidate_groups]) or "—"
        raise FlowInputError(
            fmt(_("Step “%(step)s”: the rule “%(rule)s” gives nobody."), {"step": step, "rule": rule_text})
        )
    if len(pooled) > MAX_CANDIDATES:
        raise FlowInputError(
            fmt(
                _("Step “%(step)s”: the rules name %(count)s people; at most %(max)s may share a task."),
                {"step": step, "count": len(pooled), "max": MAX_CANDIDATES},
            )
        )
    return list(pooled.values())


def apply_delegation(
    people: Sequence[Staff], *, process_key: str, at: datetime.datetime | None = None
) -> Assignment:
    """One person → assigned (to their delegate if one is in force); several → candidates."""
    if len(people) == 1:
        person = people[0]
        delegate = _delegate_for(person, process_key, at)
        if delegate is not None:
            return Assignment(assignee=delegate, on_behalf_of=person)
        return Assignment(assignee=person)
    candidates: dict[int, Staff] = {}
    delegated: dict[int, Staff] = {}
    for person in people:
        delegate = _delegate_for(person, process_key, at)
        if delegate is None:
            candidates.setdefault(person.pk, person)
        else:
            candidates.setdefault(delegate.pk, delegate)
            delegated.setdefault(delegate.pk, person)
    for pk in list(delegated):
        if pk in {p.pk for p in people}:
            delegated.pop(pk)  # a candidate in their own right acts for themself
    if len(candidates) == 1:
        only = next(iter(candidates.values()))
        return Assignment(assignee=only, on_behalf_of=delegated.get(only.pk))
    return Assignment(candidates=list(candidates.values()), delegated=delegated)


def resolve_assignment(
    rules: TaskRules,
    variables: Mapping[str, Any],
    *,
    initiator: Staff | None,
    process_key: str,
    at: datetime.datetime | None = None,
) -> Assignment:
    """The task's assignee or candidates (see the module docstring); ``FlowInputError`` if none."""
    return apply_delegation(resolve_people(rules, variables, initiator), process_key=process_key, at=at)


# --- dates ---------------------------------------------------------------------------------------


def _add_months(moment: datetime.datetime, months: int) -> datetime.datetime:
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    days_in_month = (datetime.date(year + (month == 12), month % 12 + 1, 1) - datetime.timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, days_in_month))


def parse_duration(text: str) -> tuple[int, datetime.timedelta]:
    """An ISO 8601 duration as (whole months, the rest); ``ValueError`` when it is not one.

    Years and months count in calendar months (from the start they are added to); fractions are
    accepted for days and smaller units.
    """
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    parts = {k: float(v.replace(",", ".")) if v else 0.0 for k, v in m.groupdict().items()}
    if parts["years"] % 1 or parts["months"] % 1:
        raise ValueError(f"fractional years or months: {text!r}")
    months = int(parts["years"]) * 12 + int(parts["months"])
    rest = datetime.timedelta(
        weeks=parts["weeks"],
        days=parts["days"],
        hours=parts["hours"],
        minutes=parts["minutes"],
        seconds=parts["seconds"],
    )
    return months, rest


def add_duration(start: datetime.datetime, text: str) -> datetime.datetime:
    months, rest = parse_duration(text)
    return _add_months(start, months) + rest if months else start + rest


def subtract_duration(end: datetime.datetime, text: str) -> datetime.datetime:
    months, rest = parse_duration(text)
    return _add_months(end, -months) - rest if months else end - rest


def parse_moment(text: str) -> datetime.datetime:
    """An ISO date-time (naive means local time) or date (its end, local time)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        day = datetime.date.fromisoformat(value)
        moment = datetime.datetime.combine(day, datetime.time(23, 59, 59))
    else:
        if len(value) == 10:  # a bare date parses as midnight: due by the end of that day
            moment = datetime.datetime.combine(moment.date(), datetime.time(23, 59, 59))
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _moment_of(value: Any, now: datetime.datetime) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    if isinstance(value, datetime.date):
        return timezone.make_aware(datetime.datetime.combine(value, datetime.time(23, 59, 59)))
    if isinstance(value, datetime.timedelta):
        return now + value
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("P", "p"):
            return add_duration(now, text)
        return parse_moment(text)
    raise ValueError(f"not a date, date-time or duration: {value!r}")


def resolve_due(
    due_date: str | None, variables: Mapping[str, Any], *, step: str, now: datetime.datetime
) -> datetime.datetime | None:
    """When the task is due (``None`` without a ``dueDate``)."""
    if not due_date or not due_date.strip():
        return None
    value: Any = due_date
    if expression_body(due_date) is not None:
        value = _evaluate(due_date, variables, step=step, rule=due_date)
        if value is None or value == "":
            return None
    try:
        return _moment_of(value, now)
    except (ValueError, OverflowError) as exc:
        raise FlowInputError(
            fmt(
                _("Step “%(step)s”: the due date “%(rule)s” is not a date, date-time or ISO 8601 duration."),
                {"step": step, "rule": due_date},
            )
        ) from exc


# --- no self-approval ------------------------------------------------------------------------------

SKIP_INITIATOR_PROPERTY = "medoa:skipInitiator"
SKIP_NEXT = ("next", "skip")
SKIP_LEADER = "leader"


def without_initiator(
    people: Sequence[Staff], initiator: Staff | None, rule: str | None, *, step: str
) -> tuple[list[Staff], bool]:
    """No self-approval (the user task's ``medoa:skipInitiator`` property): the initiator never
    approves their own request at this step.

    Returns ``(people, skip)``. When the initiator is one of several people the rules name, the
    others get the task. When the initiator is the only one: ``next`` (or ``skip``) → ``skip`` is
    true and the step is passed on to the next level of the model (the engine approves it for the
    system, recording why); ``leader`` → the initiator's leader one level up gets it instead.
    Without the property (or an empty one) nothing changes."""
    value = (rule or "").strip().lower()
    if not value or initiator is None or all(p.pk != initiator.pk for p in people):
        return list(people), False
    others = [p for p in people if p.pk != initiator.pk]
    if others:
        return others, False
    if value in SKIP_NEXT:
        return [], True
    if value == SKIP_LEADER:
        leader = org_fact(("leader", initiator.pk, 1), lambda: leader_above(initiator, 1))
        if leader is None:
            raise FlowInputError(
                fmt(
                    _("Step “%(step)s”: there is no leader %(levels)s level(s) above %(name)s."),
                    {"step": step, "levels": 1, "name": initiator.name},
                )
            )
        return [leader], False
    raise FlowInputError(
        fmt(
            _("Step “%(step)s”: “%(value)s” is not a value of medoa:skipInitiator (next, leader)."),
            {"step": step, "value": value[:40]},
        )
    )
