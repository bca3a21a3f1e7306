"""The task action's hot path: written-out statements and the task rows read once.

A plain decision reads its instance's task rows with the task (``_locked_task``) and ``_sync``
takes them from there; the projection must come out as when they are read again."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from medoa.engines.flow import services
from medoa.engines.flow.choices import InstanceStatus, TaskStatus
from medoa.engines.flow.errors import FlowConflict
from medoa.engines.flow.models import HumanTask, ProcessEvent, ProcessInstance

from .conftest import open_steps, open_task

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def _act(staff: Any, task: HumanTask, action: str, **kw: Any) -> HumanTask:
    return services.task_act(actor=staff.user, task=task, action=action, **kw)


@pytest.fixture
def leave(deploy: Any, start: Any, people: SimpleNamespace) -> Any:
    deploy("svc_leave")

    def run(days: int) -> ProcessInstance:
        instance = start("svc_leave", days=days, reason="flu")
        _act(people.nurse, open_task(instance), "complete")
        return instance

    return run


def test_a_plain_approve_reads_the_tasks_once(leave: Any, people: SimpleNamespace) -> None:
    first = leave(days=5)
    _act(people.head, open_task(first), "approve")  # warms the per-process caches (version, people)
    instance2 = leave(days=5)
    task2 = open_task(instance2)

    with CaptureQueriesContext(connection) as captured:
        _act(people.head, task2, "approve")

    reads = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith("SELECT") and "flow_humantask" in q["sql"]
    ]
    # the lock (through the task's instance) and the instance's tasks; _sync reads nothing more
    assert len(reads) == 2, reads
    assert open_steps(instance2) == [("vice_approve", "vice")]


def test_the_last_decision_ends_the_instance_from_the_rows_in_memory(
    leave: Any, people: SimpleNamespace
) -> None:
    instance = leave(days=2)
    _act(people.head, open_task(instance), "approve", comment="ok")

    instance.refresh_from_db()
    assert (instance.status, instance.outcome) == (InstanceStatus.COMPLETED, "approved")
    assert instance.revision == 3  # start, complete, approve
    assert not HumanTask.objects.filter(instance=instance, status=TaskStatus.OPEN).exists()
    rows = list(HumanTask.objects.filter(instance=instance).order_by("id"))
    assert [(r.task_def_id, r.status, r.outcome, r.comment) for r in rows] == [
        ("submit", "completed", "completed", ""),
        ("head_approve", "completed", "approved", "ok"),
    ]
    assert all(r.created_at is not None and r.completed_at is not None for r in rows)
    events = list(ProcessEvent.objects.filter(instance=instance).order_by("id"))
    assert [e.kind for e in events][-2:] == ["approved", "ended"]
    assert all(e.at is not None for e in events)


def test_a_stale_revision_is_a_conflict(leave: Any, people: SimpleNamespace) -> None:
    instance = leave(days=2)
    stale = ProcessInstance.objects.get(pk=instance.pk)
    ProcessInstance.objects.filter(pk=instance.pk).update(revision=stale.revision + 1)

    with pytest.raises(FlowConflict):
        services._bump(stale, next_due_at=None)


def test_bump_saves_a_foreign_key_given_as_an_object(
    leave: Any, deploy: Any, people: SimpleNamespace
) -> None:
    instance = leave(days=2)
    newer = deploy("svc_leave")
    locked = ProcessInstance.objects.get(pk=instance.pk)

    services._bump(locked, version=newer)

    instance.refresh_from_db()
    assert instance.version_id == newer.pk and instance.revision == locked.revision
