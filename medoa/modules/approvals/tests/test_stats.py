"""Approval statistics: cycle time per process and per step (median, p90), pending by department,
the overdue list; who sees which departments; the page and the API."""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from medoa.engines.flow.models import HumanTask
from medoa.modules.approvals import stats
from medoa.modules.approvals.models import ApprovalRequest

from .proc_support import *  # noqa: F403
from .proc_support import decide_all, install, submit

pytestmark = pytest.mark.django_db

HOUR = 3600.0
STATS_URL = "/api/v1/approvals/stats"


def test_percentiles_interpolate_linearly() -> None:
    values = [float(v) for v in range(1, 11)]

    assert stats.percentile(values, 50) == 5.5
    assert stats.percentile(values, 90) == pytest.approx(9.1)
    assert stats.percentile([7.0], 90) == 7.0
    assert stats.percentile([], 50) is None


def trip(days: int) -> dict[str, Any]:
    end = datetime.date(2026, 12, 1) + datetime.timedelta(days=days - 1)
    return {
        "destination": "北京",
        "purpose": "学术会议",
        "start_date": "2026-12-01",
        "end_date": end.isoformat(),
        "transport": "train",
        "estimated_cost": 1000,
    }


def decided(staff: Any, *, hours: float, step_hours: float) -> ApprovalRequest:
    """A one-step business trip decided ``hours`` after submission (its step took ``step_hours``)."""
    request = submit(staff, "business_trip", trip(2))
    decide_all(request)
    submitted = timezone.now() - datetime.timedelta(days=2)
    ApprovalRequest.objects.filter(pk=request.pk).update(
        submitted_at=submitted, finished_at=submitted + datetime.timedelta(hours=hours)
    )
    HumanTask.objects.filter(instance=request.process_instance).update(
        created_at=submitted, completed_at=submitted + datetime.timedelta(hours=step_hours)
    )
    return request


@pytest.fixture
def figures(people: SimpleNamespace) -> SimpleNamespace:
    install(people, "business_trip")
    for hours in (1, 2, 10):
        decided(people.doctor, hours=hours, step_hours=hours / 2)
    decided(people.surgeon, hours=5, step_hours=4)
    pending_card = submit(people.doctor, "business_trip", trip(1))
    pending_ward = submit(people.nurse, "business_trip", trip(1))
    pending_surgery = submit(people.surgeon, "business_trip", trip(1))
    late = HumanTask.objects.get(instance=pending_card.process_instance, status="open")
    HumanTask.objects.filter(pk=late.pk).update(due_at=timezone.now() - datetime.timedelta(hours=3))
    HumanTask.objects.filter(instance=pending_surgery.process_instance, status="open").update(
        due_at=timezone.now() - datetime.timedelta(hours=1)
    )
    return SimpleNamespace(card=pending_card, ward=pending_ward, surgery=pending_surgery, late=late)


def test_the_dean_sees_the_whole_hospital(people: SimpleNamespace, figures: SimpleNamespace) -> None:
    overview = stats.stats_overview(user=people.dean.user)

    [trips] = overview.cycle_times
    assert (trips.type_key, trips.approved, trips.rejected) == ("business_trip", 4, 0)
    assert trips.seconds.count == 4
    assert trips.seconds.median == pytest.approx(3.5 * HOUR)  # 1, 2, 5, 10 hours
    assert trips.seconds.p90 == pytest.approx(8.5 * HOUR)
    [step] = overview.step_times
    assert (step.step_id, step.step_name, step.seconds.count) == ("Task_dept_head", "科室负责人审批", 4)
    assert step.seconds.median == pytest.approx(2.5 * HOUR)  # 0.5, 1, 4, 5 hours
    assert [(p.department_code, p.pending) for p in overview.pending] == [
        ("CARD", 1),
        ("CARD-W1", 1),
        ("SURG", 1),
    ]
    assert [(o.number, o.step_name, o.assignee) for o in overview.overdue] == [
        (figures.card.number, "科室负责人审批", "张主任"),
        (figures.surgery.number, "科室负责人审批", "钱主任"),
    ]
    assert 3 * 3600 - 60 < overview.overdue[0].overdue_seconds < 3 * 3600 + 60


def test_a_department_head_sees_their_department_and_below(
    people: SimpleNamespace, figures: SimpleNamespace
) -> None:
    overview = stats.stats_overview(user=people.head.user)

    [trips] = overview.cycle_times
    assert trips.seconds.count == 3
    assert trips.seconds.median == pytest.approx(2 * HOUR)
    assert [(p.department_code, p.pending) for p in overview.pending] == [("CARD", 1), ("CARD-W1", 1)]
    assert [o.number for o in overview.overdue] == [figures.card.number]


def test_a_type_filter_and_an_empty_period(people: SimpleNamespace, figures: SimpleNamespace) -> None:
    long_ago = timezone.now() - datetime.timedelta(days=400)

    assert stats.cycle_times(user=people.dean.user, type_key="reimbursement") == []
    assert (
        stats.cycle_times(user=people.dean.user, since=long_ago, until=long_ago + datetime.timedelta(days=1))
        == []
    )


def test_without_the_permission_nothing_is_counted(people: SimpleNamespace, figures: SimpleNamespace) -> None:
    assert not stats.may_view_stats(people.doctor.user)
    assert stats.stats_overview(user=people.doctor.user).pending == []
    assert stats.overdue_tasks(user=people.doctor.user) == []


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("dean", 200),
        ("vice", 200),
        ("ma", 200),
        ("hr", 200),
        ("head", 200),
        ("doctor", 403),
        ("finance", 403),
    ],
)
def test_the_statistics_page(
    people: SimpleNamespace, figures: SimpleNamespace, password: str, who: str, status: int
) -> None:
    client = Client()
    assert client.login(username=who, password=password)

    response = client.get("/approvals/stats/")

    assert response.status_code == status
    if status == 200:
        page = response.content.decode()
        assert 'id="stats-cycle"' in page and 'id="stats-overdue"' in page
        assert figures.card.number in page  # overdue for everyone here who may see CARD


def test_the_statistics_page_filters_and_refuses_a_reversed_period(
    people: SimpleNamespace, figures: SimpleNamespace, password: str
) -> None:
    client = Client()
    assert client.login(username="dean", password=password)

    response = client.get("/approvals/stats/", {"since": "2026-03-02", "until": "2026-03-01"})

    assert response.status_code == 200
    assert "errorlist" in response.content.decode()


def test_the_statistics_api(people: SimpleNamespace, figures: SimpleNamespace, api_as: Any) -> None:
    response = api_as(people.head).get(STATS_URL, {"type": "business_trip"})

    assert response.status_code == 200
    body = response.json()
    assert [(c["type"], c["approved"], c["cycle_time"]["count"]) for c in body["cycle_times"]] == [
        ("business_trip", 3, 3)
    ]
    assert body["cycle_times"][0]["cycle_time"]["median_seconds"] == pytest.approx(2 * HOUR)
    assert [(p["department"], p["pending"]) for p in body["pending_by_department"]] == [
        ("CARD", 1),
        ("CARD-W1", 1),
    ]
    assert [o["number"] for o in body["overdue"]] == [figures.card.number]


def test_the_statistics_api_refuses(people: SimpleNamespace, figures: SimpleNamespace, api_as: Any) -> None:
    assert api_as(None).get(STATS_URL).status_code == 401
    assert api_as(people.doctor).get(STATS_URL).status_code == 403
    assert (
        api_as(people.dean).get(STATS_URL, {"since": "2026-03-02", "until": "2026-03-01"}).status_code == 422
    )


def test_the_overview_reads_a_fixed_number_of_queries(
    people: SimpleNamespace, figures: SimpleNamespace, django_assert_max_num_queries: Any
) -> None:
    """More overdue steps and pending departments do not mean more queries (no N+1)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as before:
        stats.stats_overview(user=people.dean.user)
    for staff in (people.doctor2, people.surgeon, people.nurse):
        late = submit(staff, "business_trip", trip(1))
        HumanTask.objects.filter(instance=late.process_instance, status="open").update(
            due_at=timezone.now() - datetime.timedelta(minutes=5)
        )

    with django_assert_max_num_queries(len(before.captured_queries)):
        overview = stats.stats_overview(user=people.dean.user)
    assert len(overview.overdue) == 5
