"""Inboxes, counts, visibility, allowed actions, return targets and the diagram state."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from medoa.core.access.policy import principal_of
from medoa.core.org.models import Staff
from medoa.engines.flow import selectors, services
from medoa.engines.flow.errors import FlowInputError, FlowNotFound
from medoa.engines.flow.models import HumanTask, Incident, ProcessDefinition, ProcessInstance, TaskCopy

from .conftest import open_task

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def act(staff: Any, task: HumanTask, action: str, **kw: Any) -> HumanTask:
    return services.task_act(actor=staff.user, task=task, action=action, **kw)


@pytest.fixture
def world(deploy: Any, start: Any, people: SimpleNamespace, person: Any, hospital: Any) -> SimpleNamespace:
    """Three leave requests and a review:

    * ``a`` (nurse, 5 days): at the vice dean, after the head approved;
    * ``b`` (nurse2, 1 day): at the head;
    * ``c`` (nurse, 1 day): finished (approved by the head), copied to the medical affairs officer;
    * ``review`` (nurse): at the head nurse;
    * ``referral``: a message-started triage task claimable by two medical affairs officers.
    """
    deploy("svc_leave")
    deploy("svc_review")
    deploy("svc_message_start")
    person("medical_affairs", department=hospital.ma, username="ma2")

    def leave(by: Any, days: int, title: str) -> ProcessInstance:
        instance = services.instance_start(
            actor=by.user, definition_key="svc_leave", variables={"days": days}, title=title
        )
        act(by, open_task(instance), "complete")
        return instance

    a = leave(people.nurse, 5, "年假 五天")
    act(people.head, open_task(a), "approve")
    b = leave(people.nurse2, 1, "事假 一天")
    c = leave(people.nurse, 1, "病假 一天")
    act(people.head, open_task(c), "approve")
    act(people.nurse, HumanTask.objects.get(instance=c, task_def_id="submit"), "cc", to_user="ma")
    review = start("svc_review", topic="床位")
    referral = services.message_correlate(actor=None, name="referral", variables={}).started[0]
    return SimpleNamespace(a=a, b=b, c=c, review=review, referral=referral)


def ids(qs: Any) -> list[int]:
    return [row.pk for row in qs]


# --- inboxes -------------------------------------------------------------------------------------


def test_todo_holds_my_tasks_and_the_ones_i_may_claim(
    world: SimpleNamespace, people: SimpleNamespace
) -> None:
    head_todo = selectors.task_inbox(user=people.head.user, box="todo")
    ma_todo = selectors.task_inbox(user=people.ma.user, box="todo")

    assert [(t.instance_id, t.task_def_id) for t in head_todo] == [(world.b.pk, "head_approve")]
    assert [(t.instance_id, t.task_def_id) for t in ma_todo] == [(world.referral.pk, "triage")]


def test_a_claimed_task_leaves_the_other_candidates_todo(
    world: SimpleNamespace, people: SimpleNamespace
) -> None:
    act(people.ma, open_task(world.referral), "claim")
    other = Staff.objects.get(user__username="ma2")
    assert ids(selectors.task_inbox(user=other.user, box="todo")) == []
    assert len(ids(selectors.task_inbox(user=people.ma.user, box="todo"))) == 1


def test_done_initiated_and_cc(world: SimpleNamespace, people: SimpleNamespace) -> None:
    done = selectors.task_inbox(user=people.head.user, box="done")
    initiated = selectors.task_inbox(user=people.nurse.user, box="initiated")
    copies = selectors.task_inbox(user=people.ma.user, box="cc")

    assert sorted((t.instance_id, t.outcome) for t in done) == [
        (world.a.pk, "approved"),
        (world.c.pk, "approved"),
    ]
    assert ids(initiated) == [world.review.pk, world.c.pk, world.a.pk]
    assert [c.instance_id for c in copies] == [world.c.pk]


def test_search_filter_and_sort(world: SimpleNamespace, people: SimpleNamespace) -> None:
    mine = selectors.task_inbox(user=people.nurse.user, box="initiated", search="病假")
    by_name = selectors.task_inbox(user=people.nurse.user, box="initiated", search="Two-step")
    by_key = selectors.task_inbox(user=people.nurse.user, box="initiated", definition_key="svc_review")
    oldest_first = selectors.task_inbox(user=people.nurse.user, box="initiated", order="created_at")
    by_step = selectors.task_inbox(user=people.head.user, box="done", search="Department head")

    assert ids(mine) == [world.c.pk]
    assert ids(by_name) == [world.review.pk]
    assert ids(by_key) == [world.review.pk]
    assert ids(oldest_first) == [world.a.pk, world.c.pk, world.review.pk]
    assert len(ids(by_step)) == 2


def test_unknown_box_or_order_is_an_input_error(people: SimpleNamespace) -> None:
    with pytest.raises(FlowInputError) as err:
        selectors.task_inbox(user=people.nurse.user, box="spam")
    assert err.value.field == "box"
    with pytest.raises(FlowInputError) as err:
        selectors.task_inbox(user=people.nurse.user, box="todo", order="-password")
    assert err.value.field == "order"


def test_todo_list_is_one_query(
    world: SimpleNamespace, people: SimpleNamespace, django_assert_num_queries: Any
) -> None:
    user = people.head.user
    principal_of(user)

    with django_assert_num_queries(1):
        rows = list(selectors.task_inbox(user=user, box="todo", search="假")[:20])
        assert [r.instance.definition.key for r in rows] == ["svc_leave"]
        assert rows[0].instance.initiator == people.nurse2
        assert rows[0].assignee == people.head


@pytest.mark.parametrize("box", ["done", "initiated", "cc"])
def test_other_boxes_are_one_query(
    world: SimpleNamespace, people: SimpleNamespace, django_assert_num_queries: Any, box: str
) -> None:
    user = people.nurse.user
    principal_of(user)

    with django_assert_num_queries(1):
        list(selectors.task_inbox(user=user, box=box)[:20])


def test_inbox_counts_in_one_query(
    world: SimpleNamespace, people: SimpleNamespace, django_assert_num_queries: Any
) -> None:
    for staff in (people.nurse, people.head, people.ma):
        principal_of(staff.user)

    with django_assert_num_queries(1):
        nurse = selectors.inbox_counts(user=people.nurse.user)
    head = selectors.inbox_counts(user=people.head.user)
    ma = selectors.inbox_counts(user=people.ma.user)

    assert nurse == {"todo": 0, "done": 2, "initiated": 3, "cc": 0, "cc_unread": 0}
    assert head == {"todo": 1, "done": 2, "initiated": 0, "cc": 0, "cc_unread": 0}
    assert ma == {"todo": 1, "done": 0, "initiated": 0, "cc": 1, "cc_unread": 1}


def test_todo_card_context(world: SimpleNamespace, people: SimpleNamespace, rf: Any) -> None:
    request = rf.get("/")
    request.user = people.head.user

    context = selectors.todo_card_context(request)

    assert context["counts"]["todo"] == 1
    assert [t.pk for t in context["tasks"]] == list(
        selectors.task_inbox(user=people.head.user, box="todo").values_list("pk", flat=True)
    )
    assert context["tasks"][0].title == (world.b.title or world.b.definition.name)


def test_todo_card_agrees_with_the_inbox_for_everyone(
    world: SimpleNamespace, people: SimpleNamespace, rf: Any
) -> None:
    """The card's fixed SQL and the inbox's ORM query list the same newest tasks, assigned and
    claimable, in the same order; nothing to do means no task query at all."""
    for staff in vars(people).values():
        request = rf.get("/")
        request.user = staff.user
        context = selectors.todo_card_context(request)
        inbox = selectors.task_inbox(user=staff.user, box="todo")
        assert context["counts"]["todo"] == inbox.count(), staff
        assert [t.pk for t in context["tasks"]] == [t.pk for t in inbox[: selectors.CARD_TASKS]], staff
        assert all(t.created_at.tzinfo is not None for t in context["tasks"])


# --- visibility ----------------------------------------------------------------------------------


def test_participants_see_an_instance_and_outsiders_do_not(
    world: SimpleNamespace, people: SimpleNamespace
) -> None:
    a = world.a.pk
    for staff in (people.nurse, people.head, people.vice):
        assert selectors.instance_get_for_user(user=staff.user, instance_id=a).pk == a
    with pytest.raises(FlowNotFound):
        selectors.instance_get_for_user(user=people.outsider.user, instance_id=a)
    with pytest.raises(FlowNotFound):
        selectors.task_get_for_user(user=people.outsider.user, task_id=open_task(world.a).pk)


def test_copied_people_see_the_instance(world: SimpleNamespace, people: SimpleNamespace) -> None:
    assert TaskCopy.objects.filter(recipient=people.ma).exists()

    assert selectors.instance_get_for_user(user=people.ma.user, instance_id=world.c.pk).pk == world.c.pk


def test_viewers_see_instances_within_their_scope(
    world: SimpleNamespace, people: SimpleNamespace, person: Any, hospital: Any
) -> None:
    cardio_head_two = person("dept_head", department=hospital.cardio, username="head2")
    surgery_head = person("dept_head", department=hospital.surgery, username="surg_head")

    # the initiators work in 心内一病区, below 心血管内科
    assert selectors.instance_get_for_user(user=cardio_head_two.user, instance_id=world.review.pk)
    with pytest.raises(FlowNotFound):
        selectors.instance_get_for_user(user=surgery_head.user, instance_id=world.review.pk)
    # medical affairs sees every instance; the admin too
    assert selectors.instance_get_for_user(user=people.ma.user, instance_id=world.review.pk)
    assert selectors.instance_get_for_user(user=people.admin.user, instance_id=world.review.pk)


def test_admin_list_filters(world: SimpleNamespace, people: SimpleNamespace) -> None:
    running = selectors.instance_list_for_admin(user=people.admin.user, status="running")
    finished = selectors.instance_list_for_admin(user=people.admin.user, status="completed")

    assert world.c.pk not in ids(running) and ids(finished) == [world.c.pk]
    assert ids(selectors.instance_list_for_admin(user=people.outsider.user)) == []
    with pytest.raises(FlowInputError):
        selectors.instance_list_for_admin(user=people.admin.user, status="nope")


def test_admin_list_brings_incidents_and_versions_in_two_more_queries(
    world: SimpleNamespace, people: SimpleNamespace, deploy: Any, django_assert_num_queries: Any
) -> None:
    # given an incident on one instance and a second version of the leave process
    Incident.objects.create(instance=world.a, step_id="gw", message="boom")
    Incident.objects.create(instance=world.a, step_id="gw", message="old", status="resolved")
    deploy("svc_leave")
    principal_of(people.admin.user)

    # when a page of the list is read: the instances, then their open incidents and the versions
    with django_assert_num_queries(3):
        rows = list(selectors.instance_list_for_admin(user=people.admin.user)[:50])

    by_id = {row.pk: row for row in rows}
    assert [i.message for i in by_id[world.a.pk].open_incidents] == ["boom"]
    assert by_id[world.b.pk].open_incidents == []
    assert [v.version for v in by_id[world.a.pk].definition.version_list] == [1, 2]
    assert [v.version for v in by_id[world.review.pk].definition.version_list] == [1]


def test_definition_list_with_running_counts_is_one_query(
    world: SimpleNamespace, people: SimpleNamespace, django_assert_num_queries: Any
) -> None:
    principal_of(people.admin.user)
    with django_assert_num_queries(1):
        rows = {
            d.key: (d.running_count, d.latest_version.deployed_by.staff.name)
            for d in selectors.definition_list(user=people.admin.user, running_counts=True)
        }
    assert rows == {
        "svc_leave": (2, "管理员"),
        "svc_message_start": (1, "管理员"),
        "svc_review": (1, "管理员"),
    }


def test_designer_versions_and_attachment_reads(
    world: SimpleNamespace, people: SimpleNamespace, deploy: Any
) -> None:
    # the designer opens the draft when there is one, else the latest version; 404 for neither
    leave = selectors.designer_get(key="svc_leave")
    assert (leave.draft, leave.name, leave.xml) == (
        None,
        "Leave request",
        leave.definition.latest_version.bpmn_xml,
    )
    services.draft_save(actor=people.admin.user, key="svc_leave", xml="<draft/>", name="请假 草稿")
    drafted = selectors.designer_get(key="svc_leave")
    assert (drafted.name, drafted.xml) == ("请假 草稿", "<draft/>")
    with pytest.raises(FlowNotFound):
        selectors.designer_get(key="nothing")
    assert selectors.definition_key_taken(key="svc_leave") is True
    assert selectors.definition_key_taken(key="nothing") is False

    # versions, newest first; a missing number is not found
    deploy("svc_leave")
    definition = selectors.definition_get(key="svc_leave")
    assert [v.version for v in selectors.definition_versions(definition=definition)] == [2, 1]
    assert selectors.definition_version_get(definition=definition).version == 2
    assert selectors.definition_version_get(definition=definition, number=1).version == 1
    with pytest.raises(FlowNotFound):
        selectors.definition_version_get(definition=definition, number=3)


# --- actions, return targets, diagram ------------------------------------------------------------


def test_allowed_actions_per_person(world: SimpleNamespace, people: SimpleNamespace) -> None:
    vice_task = open_task(world.a)

    assert selectors.task_allowed_actions(user=people.vice.user, task=vice_task) == [
        "approve",
        "reject",
        "complete",
        "return",
        "transfer",
        "add_signer",
        "cc",
    ]
    assert selectors.task_allowed_actions(user=people.nurse.user, task=vice_task) == ["urge", "cc"]
    assert selectors.task_allowed_actions(user=people.outsider.user, task=vice_task) == []
    b_task = open_task(world.b)
    assert selectors.task_allowed_actions(user=people.nurse2.user, task=b_task) == ["withdraw", "urge", "cc"]
    triage = open_task(world.referral)
    # a candidate may decide at once (the decision claims the task) or claim it first
    assert selectors.task_allowed_actions(user=people.ma.user, task=triage) == [
        "approve",
        "reject",
        "complete",
        "claim",
    ]


def test_return_targets_are_the_completed_steps_before_the_task(
    world: SimpleNamespace, people: SimpleNamespace
) -> None:
    assert selectors.return_targets(task=open_task(world.a)) == [
        ("submit", "Submit"),
        ("head_approve", "Department head approves"),
    ]
    assert selectors.return_targets(task=open_task(world.b)) == [("submit", "Submit")]
    assert selectors.return_targets(task=open_task(world.review)) == []


def test_diagram_state(world: SimpleNamespace) -> None:
    # given a leave at the vice dean (read again: the fixture's row holds the state at its start)
    instance = ProcessInstance.objects.select_related("version").get(pk=world.a.pk)

    # then the start event, the steps and the gateway are done, the vice dean's step is active,
    # and the path runs from the start through the gateway's flow to the vice dean
    assert selectors.diagram_state(instance=instance) == {
        "done": ["gw", "head_approve", "start", "submit"],
        "active": ["vice_approve"],
        "waiting": [],
        "flows": ["f1", "f2", "f3", "f_vice"],
    }


def test_diagram_state_of_a_finished_instance_and_of_a_waiting_one(
    world: SimpleNamespace, deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    finished = ProcessInstance.objects.select_related("version").get(pk=world.c.pk)
    assert selectors.diagram_state(instance=finished) == {
        "done": ["end_ok", "gw", "head_approve", "start", "submit"],
        "active": [],
        "waiting": [],
        "flows": ["f1", "f2", "f3", "f_ok"],
    }

    deploy("svc_message")
    waiting = start("svc_message")
    waiting.refresh_from_db()
    state = selectors.diagram_state(instance=waiting)
    assert state["waiting"] == ["wait_result"]
    assert state["active"] == []


def test_definition_list_for_starters_and_designers(world: SimpleNamespace, people: SimpleNamespace) -> None:
    ProcessDefinition.objects.filter(key="svc_review").update(is_active=False)

    assert [d.key for d in selectors.definition_list(user=people.nurse.user)] == [
        "svc_leave",
        "svc_message_start",
    ]
    assert len(selectors.definition_list(user=people.admin.user)) == 3
    assert selectors.definition_get(key="svc_leave").latest_version is not None
    with pytest.raises(FlowNotFound):
        selectors.definition_get(key="nope")
