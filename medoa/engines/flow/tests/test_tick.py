"""The worker's side of the engine: timers, automatic steps with retries and incidents, task
reminders and escalations, timer starts — and the worker thread that runs periodic jobs."""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from medoa.core.notify.models import Notification
from medoa.core.registries import PeriodicJob, periodic_jobs
from medoa.core.runtime.worker import PeriodicJobsThread
from medoa.engines.flow import services
from medoa.engines.flow.choices import IncidentStatus, ServiceJobStatus
from medoa.engines.flow.models import HumanTask, Incident, ProcessInstance, ServiceJob, TimerStartSchedule
from medoa.engines.flow.registry import service_functions
from medoa.engines.flow.tasks import flow_tick_job

from .conftest import FakeClock, kinds, open_steps, open_task

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

FAILURES = {"left": 0}


def compute(variables: dict[str, Any]) -> dict[str, Any]:
    if FAILURES["left"] > 0:
        FAILURES["left"] -= 1
        raise RuntimeError("the lab system did not answer")
    return {"doubled": variables.get("value", 0) * 2}


if "flow_tests.compute" not in service_functions:
    service_functions.register("flow_tests.compute", compute)


@pytest.fixture(autouse=True)
def _no_failures() -> None:
    FAILURES["left"] = 0


def tick(clock: FakeClock, **delta: float) -> int:
    return services.flow_tick(now=clock.advance(**delta))


def refreshed(instance: ProcessInstance) -> ProcessInstance:
    instance.refresh_from_db()
    return instance


# --- timers --------------------------------------------------------------------------------------


def test_boundary_timer_fires_when_due(
    clock: FakeClock, deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    deploy("svc_boundary")
    instance = start("svc_boundary")
    assert refreshed(instance).next_due_at == clock.current + datetime.timedelta(hours=2)

    assert tick(clock, hours=1) == 0
    assert open_steps(instance) == [("answer", "nurse")]

    assert tick(clock, hours=1, seconds=1) == 1

    assert open_steps(instance) == [("escalate", "head")]
    assert HumanTask.objects.get(instance=instance, task_def_id="answer").status == "cancelled"
    assert "timer_fired" in kinds(instance)
    assert refreshed(instance).next_due_at is None


def test_suspended_instances_wait(clock: FakeClock, deploy: Any, start: Any, people: SimpleNamespace) -> None:
    deploy("svc_boundary")
    instance = start("svc_boundary")
    services.instance_suspend(actor=people.admin.user, instance=instance)

    assert tick(clock, hours=3) == 0
    assert open_steps(instance) == [("answer", "nurse")]

    services.instance_resume(actor=people.admin.user, instance=instance)
    assert tick(clock, seconds=1) == 1
    assert open_steps(instance) == [("escalate", "head")]


# --- automatic steps -----------------------------------------------------------------------------


def test_service_task_runs_in_the_worker(
    clock: FakeClock, deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    deploy("svc_service")
    instance = start("svc_service", value=21)
    job = ServiceJob.objects.get(instance=instance)
    assert (job.status, job.function, job.task_def_id) == ("pending", "flow_tests.compute", "compute")
    assert open_steps(instance) == []

    assert tick(clock, seconds=1) == 1

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 1)
    assert refreshed(instance).variables["doubled"] == 42
    assert open_steps(instance) == [("check", "nurse")]
    assert "service_done" in kinds(instance)


def test_failing_service_task_retries_then_opens_an_incident(
    clock: FakeClock, deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    FAILURES["left"] = 3
    deploy("svc_service")
    instance = start("svc_service", value=2)

    tick(clock, seconds=1)
    job = ServiceJob.objects.get(instance=instance)
    assert (job.status, job.attempts, job.last_error) == (
        "pending",
        1,
        "RuntimeError: the lab system did not answer",
    )
    assert job.next_attempt_at == clock.current + datetime.timedelta(seconds=15)
    assert refreshed(instance).next_due_at == job.next_attempt_at
    assert tick(clock, seconds=10) == 0  # not yet
    tick(clock, seconds=5)
    job.refresh_from_db()
    assert (job.attempts, job.next_attempt_at) == (2, clock.current + datetime.timedelta(seconds=60))
    tick(clock, seconds=60)

    job.refresh_from_db()
    assert (job.status, job.attempts) == (ServiceJobStatus.FAILED, 3)
    incident = Incident.objects.get(instance=instance)
    assert (incident.status, incident.step_id, incident.job) == ("open", "compute", job)
    instance = refreshed(instance)
    assert (instance.has_incident, instance.next_due_at, instance.status) == (True, None, "running")
    assert Notification.objects.filter(recipient=people.admin.user, kind="flow.incident").count() == 1

    services.incident_retry(actor=people.admin.user, incident=incident)
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_by) == (IncidentStatus.RESOLVED, people.admin)
    assert refreshed(instance).has_incident is False
    tick(clock, seconds=1)
    job.refresh_from_db()
    assert job.status == "done"
    assert open_steps(instance) == [("check", "nurse")]


def test_an_instance_that_cannot_load_becomes_an_incident(
    clock: FakeClock, deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    deploy("svc_boundary")
    instance = start("svc_boundary")
    ProcessInstance.objects.filter(pk=instance.pk).update(state={"broken": True}, next_due_at=clock.current)

    assert tick(clock, seconds=1) == 1

    instance = refreshed(instance)
    assert (instance.has_incident, instance.next_due_at) == (True, None)
    assert Incident.objects.get(instance=instance).status == "open"
    assert tick(clock, hours=5) == 0  # it does not loop


# --- task deadlines ------------------------------------------------------------------------------


def test_reminders_and_escalations(
    clock: FakeClock, deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    deploy("svc_sla")
    instance = start("svc_sla", worker="nurse2", due="PT30M")
    t0 = clock.current
    assert refreshed(instance).next_due_at == t0 + datetime.timedelta(minutes=30)

    # t_auto is due after 30 minutes: approved automatically
    tick(clock, minutes=31)
    auto = HumanTask.objects.get(instance=instance, task_def_id="t_auto")
    assert (auto.status, auto.outcome, auto.completed_by, auto.comment) == (
        "completed",
        "approved",
        None,
        "Approved automatically at the due time.",
    )
    assert Notification.objects.filter(
        recipient=people.nurse2.user, title="Overdue: Approve by itself"
    ).exists()
    assert refreshed(instance).next_due_at == t0 + datetime.timedelta(hours=1)

    # t_leader: a reminder one hour before its due time …
    tick(clock, minutes=30)
    assert Notification.objects.filter(
        recipient=people.nurse2.user, title="Due soon: Tell the leader"
    ).exists()
    assert refreshed(instance).next_due_at == t0 + datetime.timedelta(hours=2)
    # … and at the due time the leader hears of it
    tick(clock, hours=1)
    assert Notification.objects.filter(recipient=people.head.user, kind="flow.escalation").count() == 1
    assert refreshed(instance).next_due_at == t0 + datetime.timedelta(days=1)

    # t_reassign: handed to the relief nurse after a day
    tick(clock, days=1)
    moved = HumanTask.objects.get(instance=instance, task_def_id="t_reassign", status="transferred")
    relief_task = open_task(instance, "t_reassign")
    assert (relief_task.assignee, relief_task.round, moved.assignee) == (people.relief, 2, people.nurse2)
    assert [k for k in kinds(instance) if k in ("reminded", "escalated")] == [
        "escalated",
        "reminded",
        "escalated",
        "escalated",
    ]

    services.task_act(actor=people.nurse2.user, task=open_task(instance, "t_leader"), action="complete")
    services.task_act(actor=people.relief.user, task=relief_task, action="complete")
    assert refreshed(instance).status == "completed"


def test_a_task_reassigned_at_its_due_time_is_not_escalated_again(
    clock: FakeClock, deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    # given t_reassign handed to the relief nurse at its due time
    deploy("svc_sla")
    instance = start("svc_sla", worker="nurse2", due="P2D")
    tick(clock, days=1, minutes=1)
    relief_task = open_task(instance, "t_reassign")
    assert relief_task.assignee == people.relief
    escalations = [k for k in kinds(instance) if k == "escalated"]

    # when the worker runs again
    tick(clock, minutes=1)
    tick(clock, hours=1)

    # then the relief nurse is not told the task is overdue and nothing more is escalated
    assert not Notification.objects.filter(
        recipient=people.relief.user, title="Overdue: Hand to relief"
    ).exists()
    assert [k for k in kinds(instance) if k == "escalated"] == escalations
    assert open_task(instance, "t_reassign").pk == relief_task.pk


# --- timer starts --------------------------------------------------------------------------------


def test_timer_start_fires_on_its_cycle(clock: FakeClock, deploy: Any, people: SimpleNamespace) -> None:
    deploy("svc_timer_start")
    t0 = clock.current
    schedule = TimerStartSchedule.objects.get()
    assert schedule.next_fire_at == t0 + datetime.timedelta(hours=1)

    assert tick(clock, minutes=59) == 0
    assert tick(clock, minutes=2) == 1
    first = ProcessInstance.objects.get()
    assert (first.initiator, first.definition.key) == (None, "svc_timer_start")
    assert open_steps(first) == [("round", "ma")]
    schedule.refresh_from_db()
    assert (schedule.remaining, schedule.fired_count, schedule.next_fire_at) == (
        1,
        1,
        t0 + datetime.timedelta(hours=2),
    )

    tick(clock, hours=1)
    tick(clock, hours=1)

    assert ProcessInstance.objects.count() == 2
    schedule.refresh_from_db()
    assert (schedule.remaining, schedule.next_fire_at) == (0, None)


def test_redeploy_without_timer_start_drops_the_schedule(deploy: Any) -> None:
    deploy("svc_timer_start")
    deploy("svc_review", key="svc_timer_start")

    assert TimerStartSchedule.objects.count() == 0


# --- the worker ----------------------------------------------------------------------------------


def test_flow_tick_is_registered_every_five_seconds(clock: FakeClock, deploy: Any, start: Any) -> None:
    job = periodic_jobs.get("flow.tick")
    assert (job.every_seconds, job.run) == (5.0, flow_tick_job)
    deploy("svc_service")
    start("svc_service", value=1)

    assert flow_tick_job() == 1


def test_worker_thread_runs_each_job_on_its_interval(caplog: Any) -> None:
    calls: list[str] = []

    def ok() -> int:
        calls.append("ok")
        return 1

    def broken() -> int:
        calls.append("broken")
        raise RuntimeError("boom")

    thread = PeriodicJobsThread(
        worker_id="w:1",
        jobs=[PeriodicJob("broken", broken, every_seconds=60), PeriodicJob("ok", ok, every_seconds=60)],
    )
    due: dict[str, float] = {}

    thread.run_due(due)
    thread.run_due(due)  # neither is due again yet
    due["ok"] = 0.0
    thread.run_due(due)

    assert calls == ["broken", "ok", "ok"]
    assert "periodic job broken failed" in caplog.text
