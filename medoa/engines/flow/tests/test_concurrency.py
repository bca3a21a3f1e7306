"""Two people acting on the same task at once: exactly one succeeds, the others get FlowConflict.

The threaded tests need PostgreSQL (row locks, one connection per thread); the revision check is
tested on every database.
"""

from __future__ import annotations

import threading
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from medoa.core.audit.models import AuditEntry
from medoa.engines.flow import services
from medoa.engines.flow.errors import FlowConflict
from medoa.engines.flow.models import HumanTask, ProcessEvent, ProcessInstance

from .conftest import open_task

THREADS = 20

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")


def _race(user_ids: list[int], work: Any) -> Counter[str]:
    """Run ``work(user)`` in one thread per user id, all released at once; count the outcomes."""
    barrier = threading.Barrier(len(user_ids))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(user_id: int) -> None:
        try:
            user = get_user_model().objects.get(pk=user_id)
            barrier.wait(timeout=30)
            try:
                work(user)
                result = "ok"
            except FlowConflict:
                result = "conflict"
            except Exception as exc:  # a deadlock or anything else would show here
                result = f"{type(exc).__name__}: {exc}"
            with lock:
                outcomes.append(result)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(uid,)) for uid in user_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return Counter(outcomes)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_twenty_approvals_of_one_task_give_one_success(
    deploy: Any, start: Any, people: SimpleNamespace
) -> None:
    deploy("svc_leave")
    instance = start("svc_leave", days=1)
    services.task_act(actor=people.nurse.user, task=open_task(instance), action="complete")
    task = open_task(instance)
    audits_before = AuditEntry.objects.count()

    outcomes = _race(
        [people.head.user.pk] * THREADS,
        lambda user: services.task_act(actor=user, task=task.pk, action="approve", comment="同意"),
    )

    assert outcomes == Counter({"ok": 1, "conflict": THREADS - 1})
    assert ProcessEvent.objects.filter(instance=instance, kind="approved").count() == 1
    assert HumanTask.objects.get(pk=task.pk).status == "completed"
    instance.refresh_from_db()
    assert (instance.status, instance.outcome, instance.revision) == ("completed", "approved", 3)
    assert AuditEntry.objects.count() == audits_before + 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_candidates_claiming_at_once(
    deploy: Any, people: SimpleNamespace, person: Any, hospital: Any
) -> None:
    others = [person("medical_affairs", department=hospital.ma, username=f"ma{i}") for i in range(2, 6)]
    deploy("svc_message_start")
    instance = services.message_correlate(actor=None, name="referral", variables={}).started[0]
    task = open_task(instance)

    outcomes = _race(
        [people.ma.user.pk, *[o.user.pk for o in others]],
        lambda user: services.task_act(actor=user, task=task.pk, action="claim"),
    )

    assert outcomes == Counter({"ok": 1, "conflict": 4})
    assert ProcessEvent.objects.filter(instance=instance, kind="claimed").count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_approve_and_withdraw_at_once(deploy: Any, start: Any, people: SimpleNamespace) -> None:
    deploy("svc_leave")
    instance = start("svc_leave", days=1)
    services.task_act(actor=people.nurse.user, task=open_task(instance), action="complete")
    task = open_task(instance)

    def work(user: Any) -> None:
        action = "approve" if user.pk == people.head.user.pk else "withdraw"
        services.task_act(actor=user, task=task.pk, action=action)

    outcomes = _race([people.head.user.pk, people.nurse.user.pk], work)

    assert outcomes == Counter({"ok": 1, "conflict": 1})
    decided = ProcessEvent.objects.filter(instance=instance, kind__in=["approved", "withdrawn"]).count()
    assert decided == 1


@pytest.mark.django_db
def test_a_stale_revision_is_a_conflict(deploy: Any, start: Any) -> None:
    deploy("svc_review")
    instance = start("svc_review")
    stale = ProcessInstance.objects.get(pk=instance.pk)
    ProcessInstance.objects.filter(pk=instance.pk).update(revision=stale.revision + 1)

    with pytest.raises(FlowConflict), transaction.atomic():
        services._bump(stale, title="changed")

    instance.refresh_from_db()
    assert instance.title != "changed"
