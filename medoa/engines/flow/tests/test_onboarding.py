"""新员工入职 end to end: hr.employee.hired → staff record and account → the onboarding process with
信息中心, 后勤 and 人事处 in parallel → the branch of the position kind."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from lxml import etree

from medoa.core.access.system_keys import create_system_key
from medoa.core.audit.models import AuditEntry
from medoa.core.events import publish
from medoa.core.events.choices import DeliveryStatus
from medoa.core.events.dispatcher import dispatch_until_idle
from medoa.core.events.models import Delivery
from medoa.core.org.hr_feed import EmployeeHired, employee_hired_apply
from medoa.core.org.models import Staff
from medoa.core.registries import demo_loaders
from medoa.core.runtime.demo import run_demo_loaders
from medoa.engines.flow import onboarding, services
from medoa.engines.flow.choices import InstanceStatus, TaskStatus
from medoa.engines.flow.models import HumanTask, ProcessDefinition, ProcessInstance, ServiceJob

from .conftest import FakeClock, open_steps

pytestmark = pytest.mark.django_db

HIRED = "hr.employee.hired"
FIRST_STEPS = [
    ("Task_hr_contract", "hr1"),
    ("Task_it_access", "it1"),
    ("Task_logistics", "logi1"),
]


@pytest.fixture
def staff(
    people: SimpleNamespace, person: Callable[..., Staff], hospital: SimpleNamespace
) -> SimpleNamespace:
    """One holder of each role the onboarding needs (people.ma holds medical_affairs, people.head
    dept_head of 心血管内科, people.head_nurse head_nurse of 心内一病区)."""
    return SimpleNamespace(
        it=person("it", department=hospital.ma, username="it1", name="信息中心小张"),
        logistics=person("logistics", department=hospital.ma, username="logi1", name="后勤老李"),
        hr=person("hr", department=hospital.ma, username="hr1", name="人事处小陈"),
        education=person("education_office", department=hospital.ma, username="edu1", name="科教处小吴"),
        nursing=person("nursing_dept", department=hospital.ma, username="nursing1", name="护理部主任"),
        ma_head=person("dept_head", department=hospital.ma, username="ma_head", name="医务处处长"),
        **vars(people),
    )


@pytest.fixture
def deployed(staff: SimpleNamespace) -> None:
    onboarding.demo_load(password="unused")


def hire(**over: Any) -> None:
    payload = {
        "employee_no": "E1001",
        "name": "林晓",
        "department": "CARD",
        "position_kind": "doctor",
        "title": "住院医师",
        "hire_date": "2026-03-01",
        **over,
    }
    publish(HIRED, payload, actor_name="key:HR feed")
    dispatch_until_idle()


def the_instance(employee_no: str = "E1001") -> ProcessInstance:
    return ProcessInstance.objects.get(definition__key="onboarding", business_key=f"onboarding:{employee_no}")


def run_account_step(clock: FakeClock, instance: ProcessInstance) -> None:
    job = ServiceJob.objects.get(instance=instance)
    assert (job.function, job.task_def_id) == ("onboarding.account_ensure", "Task_account")
    services.flow_tick(now=clock.advance(seconds=1))
    job.refresh_from_db()
    assert job.status == "done", job.last_error


def complete(instance: ProcessInstance, step: str, who: Staff) -> None:
    task = HumanTask.objects.get(instance=instance, task_def_id=step, status=TaskStatus.OPEN)
    services.task_act(actor=who.user, task=task, action="complete", comment="已办理")


def finish_first_steps(instance: ProcessInstance, staff: SimpleNamespace) -> None:
    complete(instance, "Task_it_access", staff.it)
    complete(instance, "Task_logistics", staff.logistics)
    complete(instance, "Task_hr_contract", staff.hr)


def test_the_model_deploys_once_from_the_demo_loader(staff: SimpleNamespace) -> None:
    onboarding.demo_load(password="unused")
    onboarding.demo_load(password="unused")
    definition = ProcessDefinition.objects.get(key="onboarding")
    assert definition.versions.count() == 1
    assert definition.latest_version is not None and definition.latest_version.name == "新员工入职"


def test_a_doctor_is_hired_and_onboarded(clock: FakeClock, staff: SimpleNamespace, deployed: None) -> None:
    # When the HR system reports a new doctor
    hire()
    # Then the staff record and account exist …
    new = Staff.objects.select_related("user", "department").get(employee_no="E1001")
    assert new.department.code == "CARD" and new.user.username == "e1001" and new.user.is_active
    # … and the onboarding runs, started for the new person, first the automatic account step
    instance = the_instance()
    assert instance.status == InstanceStatus.RUNNING
    assert instance.initiator == new
    statuses = {d.subscriber: d.status for d in Delivery.objects.filter(event__type=HIRED)}
    assert statuses["org.hr_employee_hired"] == statuses["flow.onboarding_start"] == DeliveryStatus.DELIVERED
    run_account_step(clock, instance)
    instance.refresh_from_db()
    assert instance.variables["username"] == "e1001"
    assert instance.variables["department_name"] == "心血管内科"
    assert instance.variables["position_kind"] == "doctor"
    assert instance.variables["account_ready"] is True
    # … then 信息中心, 后勤 and 人事处 in parallel
    assert open_steps(instance) == FIRST_STEPS
    finish_first_steps(instance, staff)
    # … then the doctor's branch: 科教处 training and 医务处 rights in parallel
    assert open_steps(instance) == [("Task_doctor_rights", "ma"), ("Task_doctor_training", "edu1")]
    complete(instance, "Task_doctor_training", staff.education)
    complete(instance, "Task_doctor_rights", staff.ma)
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED


def test_a_nurse_takes_the_nursing_branch(clock: FakeClock, staff: SimpleNamespace, deployed: None) -> None:
    hire(employee_no="N2001", name="周敏", department="CARD-W1", position_kind="nurse", title="护师")
    instance = the_instance("N2001")
    run_account_step(clock, instance)
    finish_first_steps(instance, staff)
    assert open_steps(instance) == [("Task_nurse_training", "nursing1")]
    complete(instance, "Task_nurse_training", staff.nursing)
    # the head nurse of the new nurse's ward
    assert open_steps(instance) == [("Task_nurse_ward", "head_nurse")]
    complete(instance, "Task_nurse_ward", staff.head_nurse)
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED


def test_administrative_staff_take_the_department_branch(
    clock: FakeClock, staff: SimpleNamespace, deployed: None
) -> None:
    # an MFN-style payload: no position kind, a title the feed knows only as text
    hire(employee_no="A3001", name="Chen^Li", department="MA", position_kind=None, title="干事")
    new = Staff.objects.get(employee_no="A3001")
    assert new.name == "Li Chen" and new.position == "干事"
    instance = the_instance("A3001")
    run_account_step(clock, instance)
    finish_first_steps(instance, staff)
    assert open_steps(instance) == [("Task_admin_department", "ma_head")]
    complete(instance, "Task_admin_department", staff.ma_head)
    assert open_steps(instance) == [("Task_admin_permissions", "it1")]


def test_the_same_hire_again_starts_no_second_onboarding(staff: SimpleNamespace, deployed: None) -> None:
    hire()
    hire(department="SURG")  # corrected department
    assert Staff.objects.filter(employee_no="E1001").count() == 1
    assert Staff.objects.get(employee_no="E1001").department.code == "SURG"
    assert ProcessInstance.objects.filter(definition__key="onboarding").count() == 1


def test_without_the_deployed_model_the_staff_record_is_still_made(staff: SimpleNamespace) -> None:
    hire()
    assert Staff.objects.filter(employee_no="E1001").exists()
    assert not ProcessInstance.objects.filter(definition__key="onboarding").exists()
    assert set(Delivery.objects.filter(event__type=HIRED).values_list("status", flat=True)) == {
        DeliveryStatus.DELIVERED
    }


def test_an_hr_system_with_a_key_hires_through_the_api(staff: SimpleNamespace, deployed: None) -> None:
    # Given an HR system's key
    _key, raw = create_system_key(actor=staff.it.user, name="HR system", scopes=["events:publish:hr.*"])
    body = {
        "type": HIRED,
        "payload": {"employee_no": "E7", "name": "孙悦", "department": "CARD-W1", "position_kind": "nurse"},
        "key": "hr:hire:E7",
    }
    # When
    response = Client().post("/api/v1/events", body, content_type="application/json", HTTP_X_API_KEY=raw)
    dispatch_until_idle()
    # Then
    assert response.status_code == 202, response.content
    assert Staff.objects.filter(employee_no="E7").exists()
    assert the_instance("E7").status == InstanceStatus.RUNNING


# --- the model's diagram, and the demo hospital ---------------------------------------------------

BPMN_NS = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
BPMNDI_NS = "{http://www.omg.org/spec/BPMN/20100524/DI}"
DC_NS = "{http://www.omg.org/spec/DD/20100524/DC}"
DI_NS = "{http://www.omg.org/spec/DD/20100524/DI}"
CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"
NODES = ("startEvent", "endEvent", "userTask", "serviceTask", "exclusiveGateway", "parallelGateway")


def _box(shape: Any) -> tuple[float, float, float, float]:
    b = shape.find(f"{DC_NS}Bounds")
    x, y, w, h = (float(b.get(k)) for k in ("x", "y", "width", "height"))
    return x, y, x + w, y + h


def _on_outline(point: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    x, y = point
    x0, y0, x1, y1 = box
    return (x in (x0, x1) and y0 <= y <= y1) or (y in (y0, y1) and x0 <= x <= x1)


def test_the_model_has_a_complete_left_to_right_diagram() -> None:
    root = etree.fromstring(onboarding.MODEL_PATH.read_bytes())
    process = root.find(f"{BPMN_NS}process")
    plane = root.find(f"{BPMNDI_NS}BPMNDiagram/{BPMNDI_NS}BPMNPlane")
    shapes = {s.get("bpmnElement"): s for s in plane.iter(f"{BPMNDI_NS}BPMNShape")}
    edges = {e.get("bpmnElement"): e for e in plane.iter(f"{BPMNDI_NS}BPMNEdge")}
    nodes = [el for el in process if etree.QName(el).localname in NODES]
    flows = list(process.iter(f"{BPMN_NS}sequenceFlow"))
    assert set(shapes) == {n.get("id") for n in nodes}
    assert set(edges) == {f.get("id") for f in flows}
    for flow in flows:
        points = [
            (float(p.get("x")), float(p.get("y"))) for p in edges[flow.get("id")].iter(f"{DI_NS}waypoint")
        ]
        assert _on_outline(points[0], _box(shapes[flow.get("sourceRef")])), flow.get("id")
        assert _on_outline(points[-1], _box(shapes[flow.get("targetRef")])), flow.get("id")
        assert all(a[0] == b[0] or a[1] == b[1] for a, b in itertools.pairwise(points)), flow.get("id")
    boxes = [_box(s) for s in shapes.values()]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
    # the three offices in parallel, the three branches by position kind
    tasks = {el.get("id"): el.get(f"{CAMUNDA}candidateGroups") for el in process.iter(f"{BPMN_NS}userTask")}
    assert tasks == {
        "Task_it_access": "it",
        "Task_logistics": "logistics",
        "Task_hr_contract": "hr",
        "Task_doctor_training": "education_office",
        "Task_doctor_rights": "medical_affairs",
        "Task_nurse_training": "nursing_dept",
        "Task_nurse_ward": "head_nurse",
        "Task_admin_department": "dept_head",
        "Task_admin_permissions": "it",
    }


@pytest.mark.parametrize(
    ("department", "kind", "branch_steps"),
    [
        ("CARD", "doctor", {"Task_doctor_training", "Task_doctor_rights"}),
        ("CARD-W1", "nurse", {"Task_nurse_training"}),
        ("FIN", "admin", {"Task_admin_department"}),
    ],
)
def test_in_the_demo_hospital_every_branch_finds_its_people(
    clock: FakeClock, department: str, kind: str, branch_steps: set[str]
) -> None:
    # Given the demo hospital with the onboarding model deployed by its loader
    run_demo_loaders(
        password="Demo@Pass-2026",
        loaders=[demo_loaders.get("org"), demo_loaders.get("flow"), demo_loaders.get("flow.onboarding")],
    )
    # When
    hire(employee_no="NEW9001", name="新同事", department=department, position_kind=kind, title="")
    instance = the_instance("NEW9001")
    run_account_step(clock, instance)
    # Then the three offices' tasks go to their people (candidates when several hold the role)
    first = {t.task_def_id: t for t in HumanTask.objects.filter(instance=instance, status=TaskStatus.OPEN)}
    assert set(first) == {"Task_it_access", "Task_logistics", "Task_hr_contract"}
    for step, role in (("Task_it_access", "it"), ("Task_logistics", "logistics"), ("Task_hr_contract", "hr")):
        people = _people_of(first[step])
        assert people and all(p.role_assignments.filter(role__code=role).exists() for p in people), step
    for step, task in first.items():
        if task.assignee is None:
            services.task_act(actor=_people_of(task)[0].user, task=task, action="claim")
            task.refresh_from_db()
        services.task_act(actor=task.assignee.user, task=task, action="complete")
    assert {t.task_def_id for t in HumanTask.objects.filter(instance=instance, status=TaskStatus.OPEN)} == (
        branch_steps
    )


def _people_of(task: HumanTask) -> list[Staff]:
    if task.assignee is not None:
        return [task.assignee]
    return [c.staff for c in task.candidates.select_related("staff")]


# --- concurrency (PostgreSQL: row locks, one connection per thread) -------------------------------


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_of_one_hire_make_one_record_and_one_onboarding(
    staff: SimpleNamespace, deployed: None
) -> None:
    # Given the same hire reported six times at once, to both subscribers' code paths
    data = EmployeeHired.model_validate(
        {"employee_no": "C5001", "name": "并发", "department": "CARD", "position_kind": "doctor"}
    )
    barrier = threading.Barrier(6)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            try:
                if i % 2:
                    onboarding.onboarding_start(data=data, actor_name="test")
                else:
                    employee_hired_apply(data=data, actor_name="test")
                result = "ok"
            except Exception as exc:  # a deadlock or a duplicate would show here
                result = f"{type(exc).__name__}: {exc}"
            with lock:
                outcomes.append(result)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # Then
    assert outcomes == ["ok"] * 6
    assert Staff.objects.filter(employee_no="C5001").count() == 1
    assert AuditEntry.objects.filter(action="org.staff.hired").count() == 1
    assert (
        ProcessInstance.objects.filter(definition__key="onboarding", business_key="onboarding:C5001").count()
        == 1
    )
