"""An app that shares its records (``App.shared_records``, a booking calendar): its page lists every
record of its form to everyone who sees the app — not other forms' records, not to those who do not
see the app, never the fields a process hides — and links only the records they may open anyway.
Off (the default), each person sees what their data scope reaches. The builder saves and audits
the option; the demo turns it on for 院内会议室预约."""

# The fixtures come from factories (imported below): the test parameters naming them are not
# redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import translation

from medoa.core.audit.models import AuditEntry
from medoa.core.org.models import Staff
from medoa.core.registries import demo_loaders
from medoa.core.runtime.demo import run_demo_loaders
from medoa.engines.forms import app_selectors, app_services, selectors, services
from medoa.engines.forms.errors import FormsNotFound
from medoa.engines.forms.models import App, FormRecord, FormVersion

from .factories import counts, good_data, grants, hospital, leave, people, person  # noqa: F401  (fixtures)
from .test_apps import as_user, book, room_app, room_form, room_spec  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english() -> Any:
    with translation.override("en"):
        yield


@pytest.fixture
def bookings(people: SimpleNamespace, room_app: App) -> SimpleNamespace:
    """Three bookings: the nurse's, another nurse's and a department head's (whose role does not
    see the app: anyone may fill in the form)."""
    return SimpleNamespace(
        own=book(people.nurse, "r1", "2026-03-02T09:00", "2026-03-02T10:00"),
        nurse2=book(people.nurse2, "r2", "2026-03-02T09:00", "2026-03-02T10:00", subject="护理质控会"),
        head=book(people.head, "r1", "2026-03-02T14:00", "2026-03-02T15:00", subject="科务会议"),
    )


def share(people: SimpleNamespace, on: bool = True) -> None:
    app_services.app_update(actor=people.it.user, slug="rooms", spec=room_spec(shared_records=on))


def listed(staff: Staff, **query: Any) -> list[int]:
    app = app_selectors.app_get(viewer=staff.user, slug="rooms")
    return [r.pk for r in app_selectors.app_record_list(viewer=staff.user, app=app, **query).page.items]


def _rows(html: str) -> list[tuple[str, str]]:
    """(record id, its first cell) of the app page's table."""
    return re.findall(r'<tr data-record="(\d+)">\s*<td class="num">(.*?)</td>', html)


def test_off_by_default_a_nurse_sees_only_her_own_bookings(
    people: SimpleNamespace, room_app: App, bookings: SimpleNamespace
) -> None:
    assert room_app.shared_records is False

    assert listed(people.nurse) == [bookings.own.pk]
    assert listed(people.nurse2) == [bookings.nurse2.pk]
    html = as_user(people.nurse).get("/forms/apps/rooms/").content.decode()
    assert 'data-total="1"' in html
    assert 'id="app-shared"' not in html


def test_on_everyone_who_sees_the_app_sees_every_booking(
    people: SimpleNamespace, room_app: App, bookings: SimpleNamespace
) -> None:
    share(people)

    assert listed(people.nurse) == [bookings.head.pk, bookings.nurse2.pk, bookings.own.pk]
    assert listed(people.nurse2) == [bookings.head.pk, bookings.nurse2.pk, bookings.own.pk]
    assert listed(people.nurse, search="何护士") == [bookings.nurse2.pk]
    assert listed(people.nurse, filters={"status": "submitted"}, page_size=2) == [
        bookings.head.pk,
        bookings.nurse2.pk,
    ]
    response = as_user(people.nurse).get("/forms/apps/rooms/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-total="3"' in html
    assert '<p class="muted" id="app-shared">应用可见者均可查看全部记录</p>' in html
    assert "<td>第二会议室</td><td>护理质控会</td><td>2026-03-02 09:00</td>" in html
    # only her own booking opens: the others are listed without a link
    assert _rows(html) == [
        (str(bookings.head.pk), str(bookings.head.pk)),
        (str(bookings.nurse2.pk), str(bookings.nurse2.pk)),
        (str(bookings.own.pk), f'<a href="/forms/records/{bookings.own.pk}/">{bookings.own.pk}</a>'),
    ]
    assert as_user(people.nurse).get(f"/forms/records/{bookings.nurse2.pk}/").status_code == 404


def test_the_allowance_is_for_the_app_page_and_the_apps_form_only(
    people: SimpleNamespace,
    room_app: App,
    bookings: SimpleNamespace,
    leave: FormVersion,
    api_as: Callable[[Staff], Client],
) -> None:
    share(people)
    other = services.record_submit(actor=people.nurse2.user, key="leave_form", data=good_data())

    assert other.pk not in listed(people.nurse)
    assert listed(people.nurse) == [bookings.head.pk, bookings.nurse2.pk, bookings.own.pk]
    # the form's own record list and the API keep the data scope
    own_list = selectors.record_list(viewer=people.nurse.user, key="room_booking")
    assert [r.pk for r in own_list.items] == [bookings.own.pk]
    assert selectors.record_list(viewer=people.nurse.user, key="leave_form").total == 0
    api = api_as(people.nurse).get("/api/v1/forms/room_booking/records")
    assert api.status_code == 200
    assert [item["id"] for item in api.json()["items"]] == [bookings.own.pk]


def test_not_for_those_who_do_not_see_the_app(
    people: SimpleNamespace, room_app: App, bookings: SimpleNamespace
) -> None:
    share(people)

    # the surgeon's role does not see the app: no page, and no sharing
    assert as_user(people.surgeon).get("/forms/apps/rooms/").status_code == 404
    assert app_selectors.sees_all_records(people.surgeon.user, room_app) is False
    with pytest.raises(FormsNotFound):
        app_selectors.app_get(viewer=people.surgeon.user, slug="rooms")
    # the department head filled the form in but does not see the app either
    assert app_selectors.sees_all_records(people.head.user, room_app) is False
    # a disabled app shares nothing (its designers still try it out)
    app_services.app_enabled_set(actor=people.it.user, slug="rooms", enabled=False)
    room_app.refresh_from_db()
    assert app_selectors.sees_all_records(people.nurse.user, room_app) is False
    assert app_selectors.sees_all_records(people.it.user, room_app) is True
    assert as_user(people.nurse).get("/forms/apps/rooms/").status_code == 404


def test_fields_a_process_hides_stay_hidden_in_the_shared_list(
    people: SimpleNamespace, room_app: App, bookings: SimpleNamespace
) -> None:
    share(people)
    secret = services.record_submit(
        actor=people.nurse2.user,
        key="room_booking",
        data={"room": "r2", "subject": "不公开的会", "start": "2026-03-03T09:00", "end": "2026-03-03T10:00"},
        hidden_fields=["subject"],
    )

    app = app_selectors.app_get(viewer=people.nurse.user, slug="rooms")
    items = {r.pk: r for r in app_selectors.app_record_list(viewer=people.nurse.user, app=app).page.items}
    assert items[secret.pk].values == {"room": "r2", "start": "2026-03-03T09:00", "end": "2026-03-03T10:00"}
    html = as_user(people.nurse).get("/forms/apps/rooms/").content.decode()
    assert "不公开的会" not in html
    assert f'<tr data-record="{secret.pk}">' in html
    # its submitter still sees what she wrote
    assert "不公开的会" in as_user(people.nurse2).get("/forms/apps/rooms/").content.decode()
    # the listing strips the values in memory only
    assert FormRecord.objects.get(pk=secret.pk).values["subject"] == "不公开的会"


def test_the_services_save_and_audit_the_option(people: SimpleNamespace, room_form: FormVersion) -> None:
    app = app_services.app_create(actor=people.it.user, slug="rooms", spec=room_spec(shared_records=True))
    app_services.app_update(actor=people.it.user, slug="rooms", spec=room_spec(shared_records=True))
    app_services.app_update(actor=people.it.user, slug="rooms", spec=room_spec(shared_records=False))

    app.refresh_from_db()
    assert app.shared_records is False
    actions = list(
        AuditEntry.objects.filter(action__startswith="forms.app.")
        .order_by("id")
        .values_list("action", "details")
    )
    assert actions == [
        (
            "forms.app.created",
            {
                "slug": "rooms",
                "form": "room_booking",
                "process_key": "",
                "roles": ["head_nurse", "nurse"],
                "shared_records": True,
            },
        ),
        ("forms.app.updated", {"slug": "rooms", "fields": ["shared_records"], "form": "room_booking"}),
    ]


def _builder_post(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "会议室预约",
        "form": "room_booking",
        "process_key": "",
        "list_columns": ["room", "subject", "start", "host"],
        "roles": ["nurse", "head_nurse"],
        "menu_order": "100",
        "enabled": "on",
        "conflict_resource": "room",
        "conflict_start": "start",
        "conflict_end": "end",
    }
    data.update(changes)
    return data


def test_the_builder_page_offers_saves_and_audits_the_checkbox(
    people: SimpleNamespace, room_app: App
) -> None:
    it = as_user(people.it)
    page = it.get("/forms/apps/rooms/edit/").content.decode()
    checkbox = (
        '<input type="checkbox" name="shared_records" aria-describedby="id_shared_records_helptext" '
        'id="id_shared_records"'
    )
    assert checkbox + ">" in page
    assert '<label for="id_shared_records">应用可见者均可查看全部记录</label>' in page
    assert (
        '<span class="help">适用于预约、共享登记等需要互相查看的应用，便于大家看到已被占用的时段；'
        "关闭时每人只能看到其数据范围内的记录。</span>" in page
    )

    response = it.post("/forms/apps/rooms/edit/", _builder_post(shared_records="on"))

    assert response.status_code == 302
    room_app.refresh_from_db()
    assert room_app.shared_records is True
    entry = AuditEntry.objects.filter(action="forms.app.updated").get()
    assert entry.details == {"slug": "rooms", "fields": ["shared_records"], "form": "room_booking"}
    page = it.get("/forms/apps/rooms/edit/").content.decode()
    assert checkbox + " checked>" in page

    # unticked: off again
    assert it.post("/forms/apps/rooms/edit/", _builder_post()).status_code == 302
    room_app.refresh_from_db()
    assert room_app.shared_records is False
    # a nurse may not change it
    refused = as_user(people.nurse).post("/forms/apps/rooms/edit/", _builder_post(shared_records="on"))
    assert refused.status_code == 403
    room_app.refresh_from_db()
    assert room_app.shared_records is False


def test_the_demo_shares_the_meeting_rooms_bookings_only(db: Any) -> None:
    run_demo_loaders(password="Demo@Pass-2026", loaders=[demo_loaders.get("org"), demo_loaders.get("forms")])

    shared = dict(App.objects.values_list("slug", "shared_records"))
    assert shared == {"further_study": False, "meeting_room": True, "new_technique": False}
    nurse = get_user_model().objects.get(username="card_n01")
    app = app_selectors.app_get(viewer=nurse, slug="meeting_room")
    subjects = sorted(
        r.values["subject"] for r in app_selectors.app_record_list(viewer=nurse, app=app).page.items
    )
    assert subjects == ["心血管内科科务会", "胸痛中心病例讨论"]
    response = Client()
    response.force_login(nurse)
    html = response.get("/forms/apps/meeting_room/").content.decode()
    assert 'data-total="2"' in html
    assert "<td>行政楼三楼第二会议室</td><td>心血管内科科务会</td>" in html
