"""The audit viewer: audit_admin only, filters, keyset paging, detail, verify button."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from medoa.core.access.choices import DataScope
from medoa.core.access.models import RoleGrant
from medoa.core.audit import guard
from medoa.core.audit.apps import VIEW_PERMISSION
from medoa.core.audit.models import AuditEntry
from medoa.core.audit.selectors import EntryFilter, audit_entry_page
from medoa.core.audit.services import audit_record
from medoa.core.org.models import Staff
from medoa.core.org.tests.factories import RoleFactory
from medoa.core.registries import menu

pytestmark = pytest.mark.django_db

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


def viewed_entries() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="audit.viewed").order_by("seq"))


def shown_actions(response: Any) -> list[str]:
    return [e.action for e in response.context["page"].entries]


# --- who may look ---------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client: Client) -> None:
    response = client.get("/audit/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/audit/"


@pytest.mark.parametrize("path", ["/audit/", "/audit/1/"])
def test_a_doctor_gets_403_sees_nothing_and_the_attempt_is_recorded(
    doctor_client: Client, doctor: Any, append: Any, path: str
) -> None:
    # given
    append(1, action="test.secret", actor_name="someone")
    before = AuditEntry.objects.count()

    # when
    response = doctor_client.get(path)

    # then
    assert response.status_code == 403
    body = response.content.decode()
    assert "test.secret" not in body and "someone" not in body
    assert AuditEntry.objects.count() == before + 1
    denied = AuditEntry.objects.get(seq=before + 1)
    assert (denied.action, denied.outcome, denied.actor_id) == ("audit.viewed", "denied", doctor.pk)
    assert denied.details == {"via": "web", "path": path}


def test_verify_is_refused_to_a_doctor(doctor_client: Client) -> None:
    response = doctor_client.post("/audit/verify/")

    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="audit.chain.verified").exists()


def test_the_permission_with_a_department_scope_is_not_enough(
    person: Callable[..., Staff], append: Any
) -> None:
    # given: a role granted the audit permission for its own department only
    role = RoleFactory(code="dept_auditor")
    RoleGrant.objects.create(role=role, permission=VIEW_PERMISSION, scope=DataScope.DEPARTMENT)
    staff = person(username="narrow")
    staff.role_assignments.create(role=role, department=staff.department)
    client = Client()
    client.force_login(staff.user)
    append(1, action="test.secret")

    # when
    response = client.get("/audit/")

    # then
    assert response.status_code == 403
    assert "test.secret" not in response.content.decode()


def test_the_audit_admin_sees_the_log_newest_first_without_caching(
    auditor_client: Client, append: Any
) -> None:
    # given
    append(3, action="test.thing")

    # when
    response = auditor_client.get("/audit/")

    # then
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    seqs = [e.seq for e in response.context["page"].entries]
    assert seqs == sorted(seqs, reverse=True)
    assert shown_actions(response)[:3] == ["test.thing"] * 3
    assert 'hx-post="/audit/verify/"' in response.content.decode()


def test_viewing_is_itself_recorded_with_the_filters(
    auditor_client: Client, auditor: Any, append: Any
) -> None:
    # given
    append(2, action="test.thing")

    # when
    response = auditor_client.get("/audit/", {"action": "test.", "outcome": "success", "actor": ""})

    # then
    assert response.status_code == 200
    (viewed,) = viewed_entries()
    assert viewed.actor_id == auditor.pk
    assert viewed.details == {
        "via": "web",
        "filters": {"action": "test.", "outcome": "success"},
        "shown": 2,
    }


def test_the_menu_offers_the_audit_log_to_audit_admins_only() -> None:
    entry = menu.get("audit")

    assert (entry.url_name, entry.permission, entry.group) == ("audit:entry_list", VIEW_PERMISSION, "audit")


def test_the_audit_log_appears_in_the_auditor_navigation_only(
    auditor_client: Client, doctor_client: Client
) -> None:
    assert 'href="/audit/"' in auditor_client.get("/").content.decode()
    assert 'href="/audit/"' not in doctor_client.get("/").content.decode()


# --- filters --------------------------------------------------------------------------------------


@pytest.fixture
def varied(append: Any, auditor: Any, doctor: Any) -> None:
    audit_record(actor=doctor, action="org.staff.created", target=("org.staff", 7, "张三"))
    audit_record(actor=doctor, action="org.staff.updated", target=("org.staff", 8, "李四"))
    audit_record(actor=None, actor_name="ghost", action="access.login.failed", outcome="failure")
    audit_record(actor=auditor, action="access.login.succeeded")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action": "org.staff."}, ["org.staff.updated", "org.staff.created"]),
        ({"action": "org.staff.created"}, ["org.staff.created"]),
        ({"actor": "doc"}, ["org.staff.updated", "org.staff.created"]),
        ({"actor": "ghost"}, ["access.login.failed"]),
        ({"outcome": "failure"}, ["access.login.failed"]),
        ({"target_type": "org.staff", "target_id": "8"}, ["org.staff.updated"]),
        ({"actor": "doc", "action": "access."}, []),
    ],
)
def test_filters(auditor_client: Client, varied: None, query: dict[str, str], expected: list[str]) -> None:
    response = auditor_client.get("/audit/", query)

    assert response.status_code == 200
    assert [a for a in shown_actions(response) if a != "access.totp.set"] == expected


def test_time_filters_in_the_hospital_time_zone(auditor_client: Client, monkeypatch: Any) -> None:
    # given: entries on three days at 09:00 Shanghai time
    for day in (5, 6, 7):
        moment = datetime.datetime(2026, 1, day, 9, 0, tzinfo=SHANGHAI)
        with monkeypatch.context() as m:
            m.setattr(timezone, "now", lambda moment=moment: moment)
            audit_record(actor=None, action=f"test.day{day}")

    def shown(**query: str) -> list[str]:
        response = auditor_client.get("/audit/", {"action": "test.day", **query})
        assert response.status_code == 200
        return shown_actions(response)

    # then: a date alone as the end includes that whole day
    assert shown(time_from="2026-01-06") == ["test.day7", "test.day6"]
    assert shown(time_to="2026-01-06") == ["test.day6", "test.day5"]
    assert shown(time_from="2026-01-06 09:00", time_to="2026-01-06 09:00:01") == ["test.day6"]
    assert shown(time_from="2026-01-06T09:01") == ["test.day7"]
    assert shown(time_to="2026-01-05 08:59") == []


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        (
            {"time_from": "2026-13-45"},
            "time_from",
            "请按 YYYY-MM-DD 或 YYYY-MM-DD HH:MM 输入日期或日期时间。",
        ),
        ({"time_to": "yesterday"}, "time_to", "请按 YYYY-MM-DD 或 YYYY-MM-DD HH:MM 输入日期或日期时间。"),
        ({"time_from": "0001-01-01"}, "time_from", "请输入 1970 至 9998 年之间的日期。"),
        (
            {"time_from": "2026-01-07", "time_to": "2026-01-06"},
            "time_to",
            "结束时间必须晚于开始时间。",
        ),
        ({"outcome": "maybe"}, "outcome", "选择一个有效的选项。 maybe 不在可用的选项中。"),
        ({"action": "x" * 101}, "action", "确保该变量包含不超过 100 字符 (目前字符数 101)。"),
        ({"before": "abc"}, "before", "输入整数。"),
        ({"before": "0"}, "before", "确保该值大于或等于1。"),
    ],
)
def test_bad_filters_get_a_message_per_field_not_a_500(
    auditor_client: Client, query: dict[str, str], field: str, message: str
) -> None:
    # when
    response = auditor_client.get("/audit/", query)

    # then
    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert f'data-field="{field}">{message}' in response.content.decode().replace("&quot;", '"')
    assert viewed_entries() == []


def test_bad_dates_answer_in_english_for_english_users(auditor_client: Client) -> None:
    auditor_client.cookies["medoa_language"] = "en"

    response = auditor_client.get("/audit/", {"time_from": "2026-02-30"})

    assert response.status_code == 400
    assert (
        'data-field="time_from">Enter a date as YYYY-MM-DD or a date and time as YYYY-MM-DD HH:MM.<'
        in response.content.decode()
    )


# --- paging ---------------------------------------------------------------------------------------


def test_keyset_paging_walks_the_log_50_at_a_time(auditor_client: Client, append: Any) -> None:
    # given
    append(120, action="test.paged")
    query = {"action": "test.paged"}

    # when: the first page
    first = auditor_client.get("/audit/", query).context["page"]

    # then
    assert len(first.entries) == 50
    assert first.newer_after is None
    assert first.older_before == first.entries[-1].seq

    # when: older pages
    second = auditor_client.get("/audit/", {**query, "before": first.older_before}).context["page"]
    third = auditor_client.get("/audit/", {**query, "before": second.older_before}).context["page"]

    # then
    assert len(second.entries) == 50 and len(third.entries) == 20
    assert second.entries[0].seq == first.entries[-1].seq - 1
    assert third.older_before is None
    assert third.newer_after == third.entries[0].seq
    seen = [e.seq for page in (first, second, third) for e in page.entries]
    assert len(set(seen)) == 120

    # when: back to newer
    back = auditor_client.get("/audit/", {**query, "after": third.newer_after}).context["page"]

    # then
    assert [e.seq for e in back.entries] == [e.seq for e in second.entries]


def test_pager_links_keep_the_filters(auditor_client: Client, append: Any) -> None:
    append(51, action="test.paged")

    body = auditor_client.get("/audit/", {"action": "test.paged"}).content.decode()

    assert "?action=test.paged&amp;before=" in body


def test_older_and_newer_at_once_is_refused(auditor_client: Client) -> None:
    response = auditor_client.get("/audit/", {"before": "5", "after": "2"})

    assert response.status_code == 400
    assert response.context["form"].errors["after"] == ["请只给出较早页或较新页之一。"]


def test_a_page_costs_one_query(auditor: Any, append: Any, django_assert_num_queries: Any) -> None:
    # given
    append(60, action="test.paged")
    filters = EntryFilter(action="test.paged")
    audit_entry_page(user=auditor, filters=filters)  # loads the principal

    # then
    with django_assert_num_queries(1):
        audit_entry_page(user=auditor, filters=filters)
    with django_assert_num_queries(2):  # plus "is there anything newer?"
        audit_entry_page(user=auditor, filters=filters, before=30)


# --- detail ---------------------------------------------------------------------------------------


def test_an_entry_in_detail(auditor_client: Client, auditor: Any) -> None:
    # given
    entry = audit_record(
        actor=None, actor_name="ghost", action="test.detail", details={"b": [1, 2], "a": "心内科"}
    )

    # when
    response = auditor_client.get(f"/audit/{entry.seq}/")

    # then
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.content.decode()
    assert response.context["details_json"] == '{\n  "a": "心内科",\n  "b": [\n    1,\n    2\n  ]\n}'
    assert json.loads(response.context["details_json"]) == {"a": "心内科", "b": [1, 2]}
    assert entry.entry_hash in body and entry.prev_hash in body
    viewed = viewed_entries()[-1]
    assert (viewed.target_type, viewed.target_id, viewed.actor_id) == (
        "audit.auditentry",
        str(entry.seq),
        auditor.pk,
    )


def test_a_missing_entry_is_404(auditor_client: Client) -> None:
    response = auditor_client.get("/audit/999/")

    assert response.status_code == 404
    assert viewed_entries() == []


# --- verify ---------------------------------------------------------------------------------------


def test_the_verify_button_shows_an_intact_chain(auditor_client: Client, append: Any) -> None:
    # given
    append(3)
    count = AuditEntry.objects.count()

    # when
    response = auditor_client.post("/audit/verify/", HTTP_HX_REQUEST="true")

    # then
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body
    assert f"链条完整：已验证 {count} 条记录。" in body
    verified = AuditEntry.objects.get(action="audit.chain.verified")
    assert verified.details == {"via": "web", "ok": True, "entries": count}


def test_the_verify_button_names_the_first_broken_link(auditor_client: Client, append: Any) -> None:
    # given
    append(3)
    guard.uninstall(connection)
    with connection.cursor() as cursor:
        cursor.execute("""UPDATE audit_auditentry SET details = '{"n": 5}' WHERE seq = 2""")
    guard.install(connection)

    # when
    response = auditor_client.post("/audit/verify/", HTTP_HX_REQUEST="true")

    # then
    assert "链条在第 2 条处断开：记录内容与其哈希值不符" in response.content.decode()
    verified = AuditEntry.objects.get(action="audit.chain.verified")
    assert verified.outcome == "failure"
    assert verified.details["broken_seq"] == 2


def test_verify_without_htmx_renders_a_full_page(auditor_client: Client) -> None:
    response = auditor_client.post("/audit/verify/")

    assert response.status_code == 200
    assert "<html" in response.content.decode()


def test_verify_needs_post(auditor_client: Client) -> None:
    assert auditor_client.get("/audit/verify/").status_code == 405
