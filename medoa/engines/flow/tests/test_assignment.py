"""Assignment rules (camunda:assignee / candidateUsers / candidateGroups), delegations and due
dates, resolved by ``medoa.engines.flow.assignment`` — and through the service layer at start."""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone, translation

from medoa.core.access import cache as access_cache
from medoa.core.org.choices import StaffStatus
from medoa.core.org.models import Role, RoleAssignment
from medoa.core.org.services import delegation_create, role_assign
from medoa.core.org.tests.factories import DelegationFactory
from medoa.engines.flow import services
from medoa.engines.flow.assignment import (
    add_duration,
    parse_duration,
    resolve_assignment,
    resolve_due,
)
from medoa.engines.flow.errors import FlowInputError
from medoa.engines.flow.models import HumanTask, ProcessEvent, ProcessInstance
from medoa.engines.flow.spiff import UserTaskInfo

from .conftest import open_task

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def rules(
    *,
    assignee: str | None = None,
    users: list[str] | None = None,
    groups: list[str] | None = None,
    due: str | None = None,
) -> UserTaskInfo:
    return UserTaskInfo(
        id="step",
        name="Approve",
        assignee=assignee,
        candidate_users=users or [],
        candidate_groups=groups or [],
        form_key=None,
        due_date=due,
        countersign=None,
        properties={},
    )


def resolve(
    people: SimpleNamespace, rule: UserTaskInfo, variables: dict[str, Any] | None = None, *, by: Any = None
) -> Any:
    return resolve_assignment(rule, variables or {}, initiator=by or people.nurse, process_key="leave")


def names(staff: list[Any]) -> list[str]:
    return sorted(s.user.username for s in staff)


# --- assignee ------------------------------------------------------------------------------------


def test_assignee_username(people: SimpleNamespace) -> None:
    result = resolve(people, rules(assignee="head"))

    assert (result.assignee, result.on_behalf_of, result.candidates) == (people.head, None, [])


def test_assignee_variable_holding_a_username(people: SimpleNamespace) -> None:
    result = resolve(people, rules(assignee="${approver}"), {"approver": "vice"})

    assert result.assignee == people.vice


def test_assignee_variable_holding_a_list_makes_candidates(people: SimpleNamespace) -> None:
    result = resolve(people, rules(assignee="${approvers}"), {"approvers": ["vice", "dean"]})

    assert result.assignee is None
    assert names(result.candidates) == ["dean", "vice"]


def test_assignee_unknown_user_names_step_and_user(people: SimpleNamespace) -> None:
    with pytest.raises(FlowInputError) as err:
        resolve(people, rules(assignee="${approver}"), {"approver": "ghost"})

    assert str(err.value.message) == "Step “Approve”: the rule “${approver}” names an unknown user “ghost”."


def test_assignee_inactive_user_is_refused(people: SimpleNamespace) -> None:
    people.dean.status = StaffStatus.LEFT
    people.dean.save(update_fields=["status"])

    with pytest.raises(FlowInputError) as err:
        resolve(people, rules(assignee="dean"))

    assert "no longer active" in str(err.value.message)


def test_assignee_missing_variable_is_an_input_error(people: SimpleNamespace) -> None:
    with pytest.raises(FlowInputError) as err:
        resolve(people, rules(assignee="${approver}"))

    assert str(err.value.message).startswith("Step “Approve”: the rule “${approver}” cannot be evaluated")


# --- candidate groups ----------------------------------------------------------------------------


def test_department_role_walks_up_from_the_initiators_department(people: SimpleNamespace) -> None:
    # the nurse works in 心内一病区, which has no dept_head; 心血管内科 above it has one
    result = resolve(people, rules(groups=["dept_head"]))

    assert result.assignee == people.head


def test_department_role_at_the_initiators_own_department(people: SimpleNamespace) -> None:
    result = resolve(people, rules(groups=["head_nurse"]))

    assert result.assignee == people.head_nurse


def test_department_role_for_the_department_in_a_variable(
    people: SimpleNamespace, person: Any, hospital: SimpleNamespace
) -> None:
    surgeon_head = person("dept_head", department=hospital.surgery, username="surg_head")

    result = resolve(people, rules(groups=["dept_head@${dept}"]), {"dept": "SURG"})

    assert result.assignee == surgeon_head


def test_department_role_for_a_literal_department_code(
    people: SimpleNamespace, person: Any, hospital: SimpleNamespace
) -> None:
    surgeon_head = person("dept_head", department=hospital.surgery, username="surg_head")

    result = resolve(people, rules(groups=["dept_head@SURG"]))

    assert result.assignee == surgeon_head


def test_nobody_holding_the_role_names_the_department(people: SimpleNamespace) -> None:
    with pytest.raises(FlowInputError) as err:
        resolve(people, rules(groups=["dept_head@${dept}"]), {"dept": "SURG"})

    assert str(err.value.message) == "Step “Approve”: no one holds dept_head for Surgery."
    with translation.override("zh-hans"):
        assert str(err.value.message) == "步骤“Approve”：普外科 没有人担任 dept_head。"


def test_unknown_department_code(people: SimpleNamespace) -> None:
    with pytest.raises(FlowInputError) as err:
        resolve(people, rules(groups=["dept_head@NOPE"]))

    assert (
        str(err.value.message)
        == "Step “Approve”: the rule “dept_head@NOPE” names an unknown department “NOPE”."
    )


def test_hospital_wide_role_means_everyone_holding_it(
    people: SimpleNamespace, person: Any, hospital: SimpleNamespace
) -> None:
    second = person("medical_affairs", department=hospital.ma, username="ma2")

    result = resolve(people, rules(groups=["medical_affairs"]))

    assert result.assignee is None
    assert names(result.candidates) == sorted(["ma", second.user.username])


def test_unknown_role_is_an_input_error(people: SimpleNamespace) -> None:
    with pytest.raises(FlowInputError) as err:
        resolve(people, rules(groups=["wizard"]))

    assert str(err.value.message) == "Step “Approve”: “wizard” is not a known role."


def test_leader_one_and_two_levels_up(people: SimpleNamespace) -> None:
    one = resolve(people, rules(groups=["leader:1"]))
    two = resolve(people, rules(groups=["leader:2"]))

    assert one.assignee == people.head
    assert two.assignee == people.dean


def test_no_leader_above_is_an_input_error(people: SimpleNamespace) -> None:
    with pytest.raises(FlowInputError) as err:
        resolve(people, rules(groups=["leader:2"]), by=people.dean)

    assert str(err.value.message) == "Step “Approve”: there is no leader 2 level(s) above 院长."


def test_groups_and_users_are_pooled_without_duplicates(people: SimpleNamespace) -> None:
    result = resolve(
        people, rules(users=["nurse2", "${deputy}"], groups=["head_nurse"]), {"deputy": "head_nurse"}
    )

    assert names(result.candidates) == ["head_nurse", "nurse2"]


def test_group_list_from_a_variable(people: SimpleNamespace) -> None:
    result = resolve(people, rules(groups=["${groups}"]), {"groups": ["vice_dean", "dean"]})

    assert names(result.candidates) == ["dean", "vice"]


def test_assignee_wins_over_candidates(people: SimpleNamespace) -> None:
    result = resolve(people, rules(assignee="dean", groups=["medical_affairs"]))

    assert (result.assignee, result.candidates) == (people.dean, [])


# --- delegations ---------------------------------------------------------------------------------


def test_delegation_sends_the_task_to_the_delegate_on_behalf_of_the_person(people: SimpleNamespace) -> None:
    DelegationFactory(delegator=people.head, delegate=people.relief)

    result = resolve(people, rules(groups=["dept_head"]))

    assert (result.assignee, result.on_behalf_of) == (people.relief, people.head)


def test_delegation_limited_to_other_processes_does_not_apply(people: SimpleNamespace) -> None:
    DelegationFactory(delegator=people.head, delegate=people.relief, process_keys=["purchase"])

    result = resolve(people, rules(groups=["dept_head"]))

    assert (result.assignee, result.on_behalf_of) == (people.head, None)


def test_expired_delegation_does_not_apply(people: SimpleNamespace) -> None:
    past = timezone.now() - datetime.timedelta(days=3)
    DelegationFactory(
        delegator=people.head,
        delegate=people.relief,
        starts_at=past,
        ends_at=past + datetime.timedelta(days=1),
    )

    result = resolve(people, rules(groups=["dept_head"]))

    assert result.assignee == people.head


def test_delegated_candidates_are_replaced_and_remembered(people: SimpleNamespace) -> None:
    DelegationFactory(delegator=people.vice, delegate=people.relief)

    result = resolve(people, rules(assignee="${approvers}"), {"approvers": ["vice", "dean"]})

    assert names(result.candidates) == ["dean", "relief"]
    assert result.delegated == {people.relief.pk: people.vice}


def test_delegation_through_the_service_shows_in_the_task_and_history(
    deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    DelegationFactory(delegator=people.head, delegate=people.relief)
    deploy("svc_leave")
    instance = start("svc_leave", days=1)
    services.task_act(actor=people.nurse.user, task=open_task(instance), action="complete")

    task = open_task(instance)
    assert (task.task_def_id, task.assignee, task.on_behalf_of) == (
        "head_approve",
        people.relief,
        people.head,
    )
    services.task_act(actor=people.relief.user, task=task, action="approve", comment="代主任审批")

    event = ProcessEvent.objects.get(instance=instance, kind="approved")
    assert (event.actor, event.on_behalf_of, event.comment) == (people.relief, people.head, "代主任审批")
    created = ProcessEvent.objects.get(instance=instance, kind="task_created", task=task)
    assert created.on_behalf_of == people.head


# --- at start, through the service: nothing is left half-written ---------------------------------


def test_start_without_anyone_to_assign_writes_nothing(
    deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    deploy("svc_review")
    RoleAssignment.objects.filter(role=Role.objects.get(code="head_nurse")).delete()

    with pytest.raises(FlowInputError) as err:
        start("svc_review")

    assert (
        str(err.value.message) == "Step “Head nurse reviews”: no one holds head_nurse for Cardiology ward 1."
    )
    with translation.override("zh-hans"):
        assert str(err.value.message) == "步骤“Head nurse reviews”：心内一病区 没有人担任 head_nurse。"
    assert (ProcessInstance.objects.count(), HumanTask.objects.count(), ProcessEvent.objects.count()) == (
        0,
        0,
        0,
    )


# --- due dates -----------------------------------------------------------------------------------


NOW = datetime.datetime(2026, 1, 31, 9, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("rule", "variables", "expected"),
    [
        ("PT2H", {}, NOW + datetime.timedelta(hours=2)),
        ("P1DT30M", {}, NOW + datetime.timedelta(days=1, minutes=30)),
        ("P1M", {}, datetime.datetime(2026, 2, 28, 9, 0, tzinfo=datetime.UTC)),
        ("2026-03-01T08:00:00+08:00", {}, datetime.datetime(2026, 3, 1, 0, 0, tzinfo=datetime.UTC)),
        (
            "${deadline}",
            {"deadline": "2026-02-02T10:00:00Z"},
            datetime.datetime(2026, 2, 2, 10, 0, tzinfo=datetime.UTC),
        ),
        ("${limit}", {"limit": "PT4H"}, NOW + datetime.timedelta(hours=4)),
        ("${hours(3)}", {}, NOW + datetime.timedelta(hours=3)),
        ("${deadline}", {"deadline": None}, None),
        (None, {}, None),
    ],
)
def test_due_dates(rule: str | None, variables: dict[str, Any], expected: datetime.datetime | None) -> None:
    assert resolve_due(rule, variables, step="Approve", now=NOW) == expected


def test_a_bare_date_is_due_at_the_end_of_that_day_local_time() -> None:
    due = resolve_due("2026-02-03", {}, step="Approve", now=NOW)

    assert due is not None
    assert timezone.localtime(due).replace(tzinfo=None) == datetime.datetime(2026, 2, 3, 23, 59, 59)


def test_a_bad_due_date_names_the_step() -> None:
    with pytest.raises(FlowInputError) as err:
        resolve_due("${deadline}", {"deadline": "soon"}, step="Approve", now=NOW)

    assert str(err.value.message) == (
        "Step “Approve”: the due date “${deadline}” is not a date, date-time or ISO 8601 duration."
    )


def test_durations() -> None:
    assert parse_duration("P1Y2M3W4DT5H6M7.5S") == (
        14,
        datetime.timedelta(weeks=3, days=4, hours=5, minutes=6, seconds=7.5),
    )
    assert add_duration(datetime.datetime(2024, 1, 31, tzinfo=datetime.UTC), "P1M").day == 29
    for bad in ("P", "PT", "1H", "P1.5M", "PT1H2D"):
        with pytest.raises(ValueError):
            parse_duration(bad)


# --- the organisation cache (MEDOA_ACCESS_CACHE_SECONDS on, as in production) --------------------


@pytest.fixture
def org_cache(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The per-process org cache switched on, with a clock moved by hand."""
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(access_cache, "_clock", lambda: clock.now)
    settings.MEDOA_ACCESS_CACHE_SECONDS = 5
    access_cache.access_cache_clear()
    yield clock
    access_cache.access_cache_clear()


def test_a_second_resolution_reads_nothing(
    people: SimpleNamespace, org_cache: Any, django_assert_num_queries: Any
) -> None:
    first = resolve(people, rules(groups=["dept_head"]))

    with django_assert_num_queries(0):
        again = resolve(people, rules(groups=["dept_head"]))

    assert first.assignee == again.assignee == people.head


def test_a_role_given_through_the_services_counts_at_once(
    people: SimpleNamespace, person: Any, hospital: SimpleNamespace, org_cache: Any
) -> None:
    security = person("sec_admin", department=hospital.root, username="sec")
    assert resolve(people, rules(groups=["dept_head"])).assignee == people.head

    role_assign(
        actor=security.user,
        staff=people.relief,
        role=Role.objects.get(code="dept_head"),
        department=hospital.ward,
    )

    assert resolve(people, rules(groups=["dept_head"])).assignee == people.relief


def test_a_delegation_made_through_the_services_counts_at_once(
    people: SimpleNamespace, org_cache: Any
) -> None:
    assert resolve(people, rules(groups=["dept_head"])).assignee == people.head
    now = timezone.now()

    delegation_create(
        actor=people.head.user,
        delegator=people.head,
        delegate=people.relief,
        starts_at=now - datetime.timedelta(minutes=1),
        ends_at=now + datetime.timedelta(days=1),
    )

    result = resolve(people, rules(groups=["dept_head"]))
    assert (result.assignee, result.on_behalf_of) == (people.relief, people.head)


def test_a_change_made_elsewhere_counts_within_the_ttl(people: SimpleNamespace, org_cache: Any) -> None:
    """Another process's change (here: rows written behind the services' back) is seen once the
    cached facts expire, and not before."""
    assert resolve(people, rules(groups=["dept_head"])).assignee == people.head
    DelegationFactory(delegator=people.head, delegate=people.relief)

    stale = resolve(people, rules(groups=["dept_head"]))
    org_cache.now += 5.1
    fresh = resolve(people, rules(groups=["dept_head"]))

    assert (stale.assignee, stale.on_behalf_of) == (people.head, None)
    assert (fresh.assignee, fresh.on_behalf_of) == (people.relief, people.head)
