"""PostgreSQL, real concurrency: two workers escalating at once escalate each level once; two
deliveries of the same observation at once open one alert and notify once."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from medoa.core.audit.models import AuditEntry
from medoa.core.clinical.events import CriticalValueReceived
from medoa.core.notify.models import Notification
from medoa.modules.quality.models import CriticalAlert
from medoa.modules.quality.services import alert_open, alerts_escalate

from .conftest import payload

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def together(fn: Callable[[], Any], n: int = 2) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(fn())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return results


def test_two_workers_escalate_each_level_once(hospital, settings):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    settings.MEDOA_CRITICAL_ACK_MINUTES = 1
    data = CriticalValueReceived.model_validate(payload())
    alert, _created = alert_open(data=data)
    when = alert.notified_at + dt.timedelta(minutes=2)
    assert sum(together(lambda: alerts_escalate(now=when))) == 1
    assert AuditEntry.objects.filter(action="quality.critical_value.escalated_1").count() == 1
    assert Notification.objects.filter(recipient=hospital.head.user).count() == 1


def test_the_same_observation_twice_at_once_opens_one_alert(hospital):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    data = CriticalValueReceived.model_validate(payload())

    def deliver() -> bool:
        with transaction.atomic():
            return alert_open(data=data)[1]

    assert sorted(together(deliver)) == [False, True]
    assert CriticalAlert.objects.count() == 1
    assert Notification.objects.filter(recipient=hospital.doctor.user).count() == 1
