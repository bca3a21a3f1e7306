"""The approval centre's API: catalog, submit (with precise 422s), lists, detail with the chain,
comments with @mentions, balances, the holiday calendar; who may see what."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from medoa.core.events.models import Event
from medoa.core.notify.models import Notification
from medoa.core.org.models import Staff
from medoa.engines.flow import services as flow_services
from medoa.modules.approvals.models import ApprovalRequest, Holiday

URL = "/api/v1/approvals"
pytestmark = pytest.mark.django_db


def post(client: Client, path: str, body: Any) -> Any:
    return client.post(f"{URL}{path}", data=json.dumps(body), content_type="application/json")


def leave(**over: Any) -> dict[str, Any]:
    data = {"leave_type": "annual", "start_date": "2026-03-02", "end_date": "2026-03-06", "reason": "回老家"}
    return {"type": "leave", "data": {**data, **over}}


def test_catalog_lists_leave_installed(
    installed: SimpleNamespace, api_as: Callable[[Staff | None], Client]
) -> None:
    response = api_as(installed.nurse).get(f"{URL}/catalog")

    assert response.status_code == 200
    leave_type = next(t for t in response.json() if t["key"] == "leave")
    assert leave_type["installed"] is True
    assert leave_type["name"] == "请假"
    assert leave_type["category"] == "人事"
    assert "leave_type" in leave_type["data_schema"]["properties"]


def test_submit_answers_the_request_with_instance_and_first_task(
    installed: SimpleNamespace, api_as: Callable[[Staff | None], Client]
) -> None:
    response = post(api_as(installed.nurse), "/requests", leave())

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["type"] == "leave"
    assert body["status"] == "submitted"
    assert body["number"].startswith("SP-2026-") or body["number"].startswith("SP-")
    assert body["process_instance_id"] is not None
    assert [(t["name"], t["assignee"], t["assignee_name"]) for t in body["current_tasks"]] == [
        ("护士长审批", "head_nurse", "护士长")
    ]
    assert body["leave"]["days"] == 5
    assert body["copied_to"] == ["人事处长"]
    assert body["summary"] == "年假 5天 03-02~03-06"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"leave_type": "vacation"}, "data.leave_type"),
        ({"start_date": "2026-02-30"}, "data.start_date"),
        ({"end_date": "2026-03-01"}, "data.end_date"),
        ({"reason": ""}, "data.reason"),
        ({"start_date": "2026-03-07", "end_date": "2026-03-08"}, "data.end_date"),  # a weekend only
        ({"leave_type": "sick"}, "data.attachments"),
        ({"start_date": "2026-03-02", "end_date": "2026-03-16"}, "data.leave_type"),  # 11 days > 10
        ({"surprise": 1}, "data.surprise"),
    ],
)
def test_bad_data_answers_422_naming_the_field_and_stores_nothing(
    installed: SimpleNamespace, api_as: Callable[[Staff | None], Client], data: dict[str, Any], field: str
) -> None:
    response = post(api_as(installed.nurse), "/requests", leave(**data))

    assert response.status_code == 422, response.content
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert ApprovalRequest.objects.count() == 0


def test_unknown_type_is_422(installed: SimpleNamespace, api_as: Callable[[Staff | None], Client]) -> None:
    response = post(api_as(installed.nurse), "/requests", {"type": "holiday", "data": {}})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "type"


def test_anonymous_is_401(installed: SimpleNamespace, api_as: Callable[[Staff | None], Client]) -> None:
    assert post(api_as(None), "/requests", leave()).status_code == 401
    assert api_as(None).get(f"{URL}/requests?mine=1").status_code == 401


def test_mine_and_todo_lists(installed: SimpleNamespace, api_as: Callable[[Staff | None], Client]) -> None:
    created = post(api_as(installed.nurse), "/requests", leave()).json()

    mine = api_as(installed.nurse).get(f"{URL}/requests?mine=1").json()
    todo = api_as(installed.head_nurse).get(f"{URL}/requests?box=todo").json()
    others = api_as(installed.doctor).get(f"{URL}/requests?mine=1").json()

    assert [r["id"] for r in mine["items"]] == [created["id"]]
    assert [r["id"] for r in todo["items"]] == [created["id"]]
    assert others == {"count": 0, "items": []}


def test_detail_shows_the_chain_and_is_404_for_outsiders(
    installed: SimpleNamespace, api_as: Callable[[Staff | None], Client]
) -> None:
    created = post(api_as(installed.nurse), "/requests", leave()).json()
    task_id = created["current_tasks"][0]["id"]
    flow_services.task_act(actor=installed.head_nurse.user, task=task_id, action="approve", comment="好的")

    detail = api_as(installed.nurse).get(f"{URL}/requests/{created['id']}").json()
    outsider = api_as(installed.doctor).get(f"{URL}/requests/{created['id']}")
    approver = api_as(installed.nursing).get(f"{URL}/requests/{created['id']}").json()

    assert [(s["name"], s["state"], s["people"], s["comment"]) for s in detail["chain"]] == [
        ("护士长审批", "done", ["护士长"], "好的"),
        ("护理部审批", "active", ["护理部主任"], ""),
    ]
    assert detail["chain"][1]["due_at"] is not None
    assert outsider.status_code == 404
    assert approver["my_task_id"] == detail["chain"][1]["task_id"]
    assert "approve" in approver["my_actions"]


def test_comment_mentions_notify_and_let_them_see(
    installed: SimpleNamespace, api_as: Callable[[Staff | None], Client]
) -> None:
    created = post(api_as(installed.nurse), "/requests", leave()).json()

    response = post(
        api_as(installed.nurse), f"/requests/{created['id']}/comments", {"text": "@doctor 请帮我顶班"}
    )

    assert response.status_code == 201
    assert response.json()["mentions"] == ["医生"]
    assert Notification.objects.filter(recipient=installed.doctor.user, kind="approvals.mention").count() == 1
    seen = api_as(installed.doctor).get(f"{URL}/requests/{created['id']}")
    assert seen.status_code == 200
    assert [c["text"] for c in seen.json()["comments"]] == ["@doctor 请帮我顶班"]


def test_empty_comment_is_422(installed: SimpleNamespace, api_as: Callable[[Staff | None], Client]) -> None:
    created = post(api_as(installed.nurse), "/requests", leave()).json()

    response = post(api_as(installed.nurse), f"/requests/{created['id']}/comments", {"text": "  "})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "text"


def test_balances_count_pending_then_used(
    installed: SimpleNamespace, api_as: Callable[[Staff | None], Client]
) -> None:
    client = api_as(installed.nurse)
    created = post(client, "/requests", leave(end_date="2026-03-03")).json()

    def annual() -> dict[str, Any]:
        rows = client.get(f"{URL}/leave/balances?year=2026").json()
        return next(r for r in rows if r["leave_type"] == "annual")

    before = annual()
    assert [float(before[k]) for k in ("entitled", "used", "pending", "available")] == [10, 0, 2, 8]
    flow_services.task_act(
        actor=installed.head_nurse.user, task=created["current_tasks"][0]["id"], action="approve"
    )
    after = annual()
    assert float(after["used"]) == 2
    assert float(after["pending"]) == 0
    assert float(after["available"]) == 8
    event = Event.objects.get(type="approvals.leave.approved")
    assert event.payload["staff"] == "nurse"
    assert event.payload["dates"] == ["2026-03-02", "2026-03-03"]
    assert event.payload["days"] == 2


def test_balances_of_another_person_are_404_without_permission(
    installed: SimpleNamespace, api_as: Callable[[Staff | None], Client]
) -> None:
    assert api_as(installed.doctor).get(f"{URL}/leave/balances?staff=nurse").status_code == 404
    assert api_as(installed.hr).get(f"{URL}/leave/balances?staff=nurse").status_code == 200


def test_working_days_endpoint(installed: SimpleNamespace, api_as: Callable[[Staff | None], Client]) -> None:
    body = api_as(installed.nurse).get(f"{URL}/leave/working-days?start=2026-09-28&end=2026-10-10").json()

    # 9-28..9-30 work, 10-01..10-07 National Day, 10-08 and 10-09 work, 10-10 (Saturday) made up
    assert body["days"] == 6
    assert body["dates"] == [
        "2026-09-28",
        "2026-09-29",
        "2026-09-30",
        "2026-10-08",
        "2026-10-09",
        "2026-10-10",
    ]


def test_holiday_calendar_needs_permission(
    installed: SimpleNamespace, api_as: Callable[[Staff | None], Client]
) -> None:
    denied = api_as(installed.nurse).put(
        f"{URL}/holidays/2026-12-31",
        data=json.dumps({"kind": "holiday", "name": "院庆"}),
        content_type="application/json",
    )
    allowed = api_as(installed.hr).put(
        f"{URL}/holidays/2026-12-31",
        data=json.dumps({"kind": "holiday", "name": "院庆"}),
        content_type="application/json",
    )

    assert denied.status_code == 403
    assert allowed.status_code == 200
    assert Holiday.objects.get(date="2026-12-31").name == "院庆"
    assert api_as(installed.hr).delete(f"{URL}/holidays/2026-12-31").status_code == 204
    assert not Holiday.objects.filter(date="2026-12-31").exists()


def test_withdraw_frees_pending_days(
    installed: SimpleNamespace, api_as: Callable[[Staff | None], Client]
) -> None:
    client = api_as(installed.nurse)
    created = post(client, "/requests", leave()).json()

    response = post(client, f"/requests/{created['id']}/withdraw", {})

    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    again = post(client, "/requests", leave())
    assert again.status_code == 201


def test_the_list_costs_the_same_for_one_request_as_for_five(
    installed: SimpleNamespace, api_as: Callable[[Staff | None], Client]
) -> None:
    client = api_as(installed.head_nurse)
    post(api_as(installed.nurse), "/requests", leave(start_date="2026-03-02", end_date="2026-03-02"))
    client.get(f"{URL}/requests?box=todo")  # warm the caches (permissions, principal)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"{URL}/requests?box=todo")
        assert response.status_code == 200
        return len(captured.captured_queries)

    one = queries()
    for day in ("03", "04", "05", "06"):
        post(
            api_as(installed.nurse),
            "/requests",
            leave(start_date=f"2026-03-{day}", end_date=f"2026-03-{day}"),
        )

    assert client.get(f"{URL}/requests?box=todo").json()["count"] == 5
    assert queries() <= one
