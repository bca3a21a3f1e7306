"""The process engine's demo: three example models that parse cleanly and carry a full diagram,
deployed by the demo loader after the demo hospital, with instances waiting in the inboxes."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from lxml import etree

from medoa.core.audit.models import AuditEntry
from medoa.core.notify.models import Notification
from medoa.core.org.choices import StaffStatus
from medoa.core.org.models import Staff
from medoa.core.registries import demo_loaders
from medoa.core.runtime.demo import demo_loader_sequence, run_demo_loaders
from medoa.engines.flow import selectors, services
from medoa.engines.flow.choices import InstanceOutcome, InstanceStatus, TaskStatus
from medoa.engines.flow.demo import DEMO_CATEGORY, DEMO_MODELS, demo_instances
from medoa.engines.flow.errors import FlowInputError
from medoa.engines.flow.models import (
    HumanTask,
    ProcessDefinition,
    ProcessEvent,
    ProcessInstance,
    ProcessVersion,
)
from medoa.engines.flow.spiff import parse_definition
from medoa.engines.flow.tests.test_browser import SHAPES, Session

PASSWORD = "Demo@Pass-2026"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
BPMNDI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
DC = "{http://www.omg.org/spec/DD/20100524/DC}"
DI = "{http://www.omg.org/spec/DD/20100524/DI}"
FLOW_NODES = ("startEvent", "endEvent", "userTask", "exclusiveGateway")

MODEL_KEYS = ["general_approval", "leave_simple", "purchase_countersign"]


def _load() -> list[str]:
    return run_demo_loaders(password=PASSWORD, loaders=[demo_loaders.get("org"), demo_loaders.get("flow")])


@pytest.fixture
def loaded(db: Any) -> list[str]:
    return _load()


def _user(username: str) -> Any:
    return get_user_model().objects.get(username=username)


def _todo(username: str) -> list[tuple[str, str]]:
    """(process key, step name) of the person's to-do tasks, sorted."""
    tasks = selectors.task_inbox(user=_user(username), box="todo")
    return sorted((t.instance.definition.key, t.name) for t in tasks)


def _username(staff: Staff | None) -> str | None:
    return staff.user.username if staff is not None else None


def _instance(business_key: str) -> ProcessInstance:
    return ProcessInstance.objects.get(business_key=business_key)


def _open_task(business_key: str, step: str, username: str | None = None) -> HumanTask:
    qs = HumanTask.objects.filter(
        instance__business_key=business_key, task_def_id=step, status=TaskStatus.OPEN
    )
    if username is not None:
        qs = qs.filter(assignee__user__username=username)
    return qs.get()


def _candidates(task: HumanTask) -> set[str]:
    return set(task.candidates.values_list("staff__user__username", flat=True))


def _vice_deans() -> set[str]:
    return set(
        Staff.objects.filter(role_assignments__role__code="vice_dean").values_list(
            "user__username", flat=True
        )
    )


# --- the models ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_every_demo_model_parses_without_problems(key: str) -> None:
    model = next(m for m in DEMO_MODELS if m.key == key)

    parsed = parse_definition(model.xml())  # raises DefinitionInvalid listing any problem

    assert parsed.process_id == key
    assert parsed.name == {"general_approval": "通用审批", "leave_simple": "请假（简版）"}.get(
        key, "采购会签"
    )


def test_the_models_are_the_three_demo_keys() -> None:
    assert [m.key for m in DEMO_MODELS] == MODEL_KEYS


def test_general_approval_steps_and_assignment() -> None:
    parsed = parse_definition(DEMO_MODELS[0].xml())

    tasks = parsed.user_tasks
    assert sorted(tasks) == ["Task_dept_head", "Task_vice_dean"]
    assert (tasks["Task_dept_head"].name, tasks["Task_dept_head"].candidate_groups) == (
        "科室负责人审批",
        ["dept_head"],
    )
    assert tasks["Task_dept_head"].due_date == "P3D"
    assert tasks["Task_dept_head"].properties == {"remind_before": "PT4H", "escalation": "notify_leader"}
    assert (tasks["Task_vice_dean"].name, tasks["Task_vice_dean"].candidate_groups) == (
        "分管院长审批",
        ["vice_dean"],
    )


def test_leave_steps_and_assignment() -> None:
    parsed = parse_definition(DEMO_MODELS[1].xml())

    tasks = parsed.user_tasks
    assert {k: (t.name, t.assignee, t.candidate_groups) for k, t in tasks.items()} == {
        "Task_submit": ("填写请假申请", "${initiator}", []),
        "Task_leader": ("科室负责人审批", None, ["leader:1"]),
        "Task_head_nurse": ("护士长审批", None, ["head_nurse"]),
        "Task_vice_dean": ("分管院长审批", None, ["vice_dean"]),
    }


def test_purchase_countersign_is_a_parallel_countersign_over_signers() -> None:
    parsed = parse_definition(DEMO_MODELS[2].xml())

    sign = parsed.user_tasks["Task_countersign"]
    assert sign.assignee == "${signer}"
    assert sign.countersign is not None
    assert (sign.countersign.collection, sign.countersign.element_variable, sign.countersign.sequential) == (
        "signers",
        "signer",
        False,
    )
    assert sign.countersign.completion_condition == "${nr_rejected > 0 or nr_approved == nr_instances}"
    assert parsed.user_tasks["Task_dean"].candidate_groups == ["dean"]


def _bounds(shape: Any) -> tuple[float, float, float, float]:
    b = shape.find(f"{DC}Bounds")
    x, y = float(b.get("x")), float(b.get("y"))
    return x, y, x + float(b.get("width")), y + float(b.get("height"))


def _touches(point: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    x, y = point
    x0, y0, x1, y1 = box
    return (x in (x0, x1) and y0 <= y <= y1) or (y in (y0, y1) and x0 <= x <= x1)


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_every_demo_model_has_a_complete_left_to_right_diagram(key: str) -> None:
    model = next(m for m in DEMO_MODELS if m.key == key)
    root = etree.fromstring(model.xml().encode("utf-8"))
    process = root.find(f"{BPMN}process")
    plane = root.find(f"{BPMNDI}BPMNDiagram/{BPMNDI}BPMNPlane")
    assert plane.get("bpmnElement") == key
    shapes = {s.get("bpmnElement"): s for s in plane.iter(f"{BPMNDI}BPMNShape")}
    edges = {e.get("bpmnElement"): e for e in plane.iter(f"{BPMNDI}BPMNEdge")}
    nodes = [el for el in process if etree.QName(el).localname in FLOW_NODES]
    flows = list(process.iter(f"{BPMN}sequenceFlow"))

    # every flow node has a shape, every flow an edge, and nothing else is drawn
    assert set(shapes) == {n.get("id") for n in nodes}
    assert set(edges) == {f.get("id") for f in flows}
    for flow in flows:
        points = [(float(p.get("x")), float(p.get("y"))) for p in edges[flow.get("id")].iter(f"{DI}waypoint")]
        assert len(points) >= 2
        # each edge starts on its source's outline and ends on its target's, in right angles
        assert _touches(points[0], _bounds(shapes[flow.get("sourceRef")])), flow.get("id")
        assert _touches(points[-1], _bounds(shapes[flow.get("targetRef")])), flow.get("id")
        assert all(a[0] == b[0] or a[1] == b[1] for a, b in itertools.pairwise(points))
    # left to right: the start is the leftmost shape, the ends lie to the right of every task
    start = next(n.get("id") for n in nodes if etree.QName(n).localname == "startEvent")
    lefts = {element: _bounds(shape)[0] for element, shape in shapes.items()}
    assert lefts[start] == min(lefts.values())
    kinds = {n.get("id"): etree.QName(n).localname for n in nodes}
    ends = [lefts[e] for e, kind in kinds.items() if kind == "endEvent"]
    tasks = [lefts[t] for t, kind in kinds.items() if kind == "userTask"]
    assert min(ends) > min(tasks)
    assert max(ends) > max(tasks)
    # no two shapes overlap
    boxes = [_bounds(s) for s in shapes.values()]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


# --- the loader ----------------------------------------------------------------------------------


def test_the_flow_loader_runs_after_org() -> None:
    keys = [d.key for d in demo_loader_sequence()]

    assert keys.index("org") < keys.index("flow")
    assert demo_loaders.get("flow").depends_on == ("org",)


def test_loading_deploys_the_three_definitions(loaded: list[str]) -> None:
    assert loaded == ["org", "flow"]
    definitions = {d.key: d for d in ProcessDefinition.objects.select_related("latest_version__deployed_by")}
    assert sorted(definitions) == MODEL_KEYS
    assert {k: d.name for k, d in definitions.items()} == {
        "general_approval": "通用审批",
        "leave_simple": "请假（简版）",
        "purchase_countersign": "采购会签",
    }
    for definition in definitions.values():
        assert definition.category == DEMO_CATEGORY
        assert definition.is_active is True
        assert definition.latest_version is not None
        assert definition.latest_version.version == 1
        deployer = definition.latest_version.deployed_by
        assert deployer is not None and deployer.username == "admin"
    assert AuditEntry.objects.filter(action="flow.definition.deployed").count() == 3


def test_loading_starts_the_demo_instances(loaded: list[str]) -> None:
    instances = {
        i.business_key: i for i in ProcessInstance.objects.select_related("definition", "initiator__user")
    }

    assert {k: (i.definition.key, _username(i.initiator), i.status) for k, i in instances.items()} == {
        "DEMO-GA-0001": ("general_approval", "card_n01", InstanceStatus.RUNNING),
        "DEMO-LEAVE-0001": ("leave_simple", "card_doc1", InstanceStatus.RUNNING),
        "DEMO-LEAVE-0002": ("leave_simple", "card_n02", InstanceStatus.RUNNING),
        "DEMO-PUR-0001": ("purchase_countersign", "card_doc2", InstanceStatus.RUNNING),
    }
    assert [d.business_key for d in demo_instances()] == sorted(instances)
    # the applicants submitted their leave requests themselves
    submitted = HumanTask.objects.filter(task_def_id="Task_submit").order_by("instance__business_key")
    assert [(t.instance.business_key, t.status, _username(t.completed_by)) for t in submitted] == [
        ("DEMO-LEAVE-0001", TaskStatus.COMPLETED, "card_doc1"),
        ("DEMO-LEAVE-0002", TaskStatus.COMPLETED, "card_n02"),
    ]
    assert _instance("DEMO-LEAVE-0001").variables["days"] == 5


def test_card_head_finds_three_tasks_in_the_todo_box(loaded: list[str]) -> None:
    assert _todo("card_head") == [
        ("general_approval", "科室负责人审批"),
        ("leave_simple", "科室负责人审批"),
        ("purchase_countersign", "采购会签"),
    ]
    assert selectors.inbox_counts(user=_user("card_head"))["todo"] == 3
    # assigned to card_head, not merely claimable
    assert set(
        HumanTask.objects.filter(status=TaskStatus.OPEN, assignee__user__username="card_head").values_list(
            "instance__business_key", flat=True
        )
    ) == {"DEMO-GA-0001", "DEMO-LEAVE-0001", "DEMO-PUR-0001"}
    # and notified of each
    assert Notification.objects.filter(recipient__username="card_head", kind="flow.task").count() == 3


def test_the_other_inboxes_at_first_login(loaded: list[str]) -> None:
    assert _todo("card_hn") == [("leave_simple", "护士长审批")]
    assert _todo("equip") == [("purchase_countersign", "采购会签")]
    assert _todo("finance") == [("purchase_countersign", "采购会签")]
    assert _todo("dean") == []
    assert _todo("card_n01") == []
    initiated = selectors.task_inbox(user=_user("card_n01"), box="initiated")
    assert [i.business_key for i in initiated] == ["DEMO-GA-0001"]


def test_card_head_approves_the_general_approval(loaded: list[str]) -> None:
    task = _open_task("DEMO-GA-0001", "Task_dept_head")

    services.task_act(actor=_user("card_head"), task=task, action="approve", comment="同意购置。")

    instance = _instance("DEMO-GA-0001")
    assert (instance.status, instance.outcome) == (InstanceStatus.COMPLETED, InstanceOutcome.APPROVED)
    assert _todo("card_head") == [("leave_simple", "科室负责人审批"), ("purchase_countersign", "采购会签")]
    assert list(ProcessEvent.objects.filter(instance=instance).values_list("kind", flat=True)) == [
        "started",
        "task_created",
        "approved",
        "ended",
    ]


def test_a_large_general_approval_goes_on_to_the_vice_deans(loaded: list[str]) -> None:
    instance = services.instance_start(
        actor=_user("card_doc1"),
        definition_key="general_approval",
        variables={"subject": "进修学习经费", "amount": 18000},
    )
    task = HumanTask.objects.get(instance=instance, status=TaskStatus.OPEN)
    services.task_act(actor=_user("card_head"), task=task, action="approve")

    vice = HumanTask.objects.get(instance=instance, status=TaskStatus.OPEN)
    assert (vice.task_def_id, vice.assignee) == ("Task_vice_dean", None)
    assert _candidates(vice) == _vice_deans()
    assert "vp_medical" in _candidates(vice)


def test_a_long_leave_goes_on_to_a_vice_dean_and_a_short_one_ends(loaded: list[str]) -> None:
    services.task_act(
        actor=_user("card_head"), task=_open_task("DEMO-LEAVE-0001", "Task_leader"), action="approve"
    )
    services.task_act(
        actor=_user("card_hn"), task=_open_task("DEMO-LEAVE-0002", "Task_head_nurse"), action="approve"
    )

    long_leave = HumanTask.objects.get(instance__business_key="DEMO-LEAVE-0001", status=TaskStatus.OPEN)
    assert long_leave.task_def_id == "Task_vice_dean"
    assert _candidates(long_leave) == _vice_deans()
    short = _instance("DEMO-LEAVE-0002")
    assert (short.status, short.outcome) == (InstanceStatus.COMPLETED, InstanceOutcome.APPROVED)


def test_a_rejected_leave_ends_rejected(loaded: list[str]) -> None:
    services.task_act(
        actor=_user("card_head"),
        task=_open_task("DEMO-LEAVE-0001", "Task_leader"),
        action="reject",
        comment="科室人手紧张，请调整时间。",
    )

    instance = _instance("DEMO-LEAVE-0001")
    assert (instance.status, instance.outcome) == (InstanceStatus.COMPLETED, InstanceOutcome.REJECTED)


def test_a_head_nurse_and_a_department_head_do_not_approve_their_own_leave(loaded: list[str]) -> None:
    for username in ("card_hn", "card_head"):
        instance = services.instance_start(
            actor=_user(username), definition_key="leave_simple", variables={"days": 1, "reason": "事假"}
        )
        submit = HumanTask.objects.get(instance=instance, status=TaskStatus.OPEN)
        services.task_act(actor=_user(username), task=submit, action="complete")

        step = HumanTask.objects.select_related("assignee__user").get(
            instance=instance, status=TaskStatus.OPEN
        )
        # card_hn → the head of 心血管内科; card_head → the vice president who leads the clinical departments
        expected = {"card_hn": "card_head", "card_head": "vp_medical"}[username]
        assert (step.task_def_id, _username(step.assignee)) == ("Task_leader", expected)


def test_one_rejection_ends_the_countersign(loaded: list[str]) -> None:
    services.task_act(
        actor=_user("card_head"),
        task=_open_task("DEMO-PUR-0001", "Task_countersign", "card_head"),
        action="approve",
    )
    services.task_act(
        actor=_user("finance"),
        task=_open_task("DEMO-PUR-0001", "Task_countersign", "finance"),
        action="reject",
        comment="本年度预算已用完。",
    )

    instance = _instance("DEMO-PUR-0001")
    assert (instance.status, instance.outcome) == (InstanceStatus.COMPLETED, InstanceOutcome.REJECTED)
    assert (instance.variables["nr_approved"], instance.variables["nr_rejected"]) == (1, 1)
    # equip's share closed without a decision
    equip = HumanTask.objects.get(instance=instance, assignee__user__username="equip")
    assert equip.status == TaskStatus.CANCELLED


def test_a_countersign_everyone_approves_goes_to_the_dean(loaded: list[str]) -> None:
    for username in ("card_head", "equip", "finance"):
        services.task_act(
            actor=_user(username),
            task=_open_task("DEMO-PUR-0001", "Task_countersign", username),
            action="approve",
        )

    dean = HumanTask.objects.select_related("assignee__user").get(
        instance__business_key="DEMO-PUR-0001", status=TaskStatus.OPEN
    )
    assert (dean.task_def_id, _username(dean.assignee)) == ("Task_dean", "dean")
    variables = _instance("DEMO-PUR-0001").variables
    assert (variables["nr_instances"], variables["nr_approved"], variables["approved"]) == (3, 3, True)


def test_loading_twice_duplicates_nothing(loaded: list[str]) -> None:
    def counts() -> tuple[int, ...]:
        return (
            ProcessDefinition.objects.count(),
            ProcessVersion.objects.count(),
            ProcessInstance.objects.count(),
            HumanTask.objects.count(),
            ProcessEvent.objects.count(),
        )

    before = counts()

    assert _load() == ["org", "flow"]

    assert counts() == before == (3, 3, 4, 8, before[4])
    assert Counter(ProcessInstance.objects.values_list("business_key", flat=True)) == {
        d.business_key: 1 for d in demo_instances()
    }


def test_a_missing_demo_instance_is_started_again_on_the_next_load(loaded: list[str]) -> None:
    # given a demo instance that was removed
    instance = _instance("DEMO-GA-0001")
    instance.delete()

    _load()

    assert _instance("DEMO-GA-0001").status == InstanceStatus.RUNNING
    assert ProcessVersion.objects.filter(definition__key="general_approval").count() == 1


def test_loading_is_all_or_nothing(db: Any) -> None:
    # given the demo hospital without its head nurse of 心内一病区 (nobody can approve a nurse's leave)
    run_demo_loaders(password=PASSWORD, loaders=[demo_loaders.get("org")])
    Staff.objects.filter(user__username="card_hn").update(status=StaffStatus.LEFT)

    # when the flow demo loads, then it fails naming the step, and nothing of it stays
    with pytest.raises(FlowInputError, match="护士长审批"):
        _load()
    assert ProcessDefinition.objects.count() == 0
    assert ProcessInstance.objects.count() == 0
    assert HumanTask.objects.count() == 0


# --- in the browser ------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_demo_models_open_in_the_designer_and_card_head_sees_his_tasks(
    browser: Any, live_server: Any
) -> None:
    # given the demo hospital with its processes
    _load()
    designer = Session(browser, live_server, width=1400, height=860)
    designer.sign_in("it", PASSWORD)

    # when the designer opens each demo model, then it is drawn as it was saved, without warnings
    for model in DEMO_MODELS:
        designer.go(f"/flow/designer/{model.key}/")
        designer.page.wait_for_selector("#designer.flow-ready")
        root = etree.fromstring(model.xml().encode("utf-8"))
        drawn = [el for el in root.find(f"{BPMN}process") if etree.QName(el).localname in FLOW_NODES]
        assert designer.page.locator(SHAPES).count() == len(drawn)
        assert designer.page.locator("#designer-problems").is_hidden()
        designer.shot(f"demo-{model.key}")

    # when card_head signs in, his to-do box holds the three demo tasks
    head = Session(browser, live_server, width=1400, height=860)
    head.sign_in("card_head", PASSWORD)
    head.go("/flow/tasks/?box=todo")
    assert head.page.locator("main").inner_text().count("科室负责人审批") == 2
    head.shot("demo-card-head-todo")

    # and the leave's task page shows the diagram with the steps so far coloured
    task = _open_task("DEMO-LEAVE-0001", "Task_leader")
    head.go(f"/flow/tasks/{task.pk}/")
    head.page.wait_for_selector(".flow-viewer.flow-ready")
    head.shot("demo-card-head-leave-task")

    errors = designer.errors + head.errors
    designer.context.close()
    head.context.close()
    assert errors == []
