"""No-code apps: the builder's services and pages (designers only, every problem named, audited),
who sees which app (menu and page), the app's page, and the conflict rule (overlaps refused with the
clashing booking's time beside the start field; touching intervals, another room and rejected or
withdrawn bookings allowed)."""

# The fixtures come from factories (imported below): the test parameters naming them are not
# redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation
from openpyxl import Workbook

from medoa.core.audit.models import AuditEntry
from medoa.core.org.models import Staff
from medoa.core.registries import menu_providers
from medoa.engines.forms import app_selectors, app_services, services
from medoa.engines.forms.app_services import AppSpec
from medoa.engines.forms.choices import RecordStatus
from medoa.engines.forms.errors import FormsInputError, FormsPermissionDenied, ValidationFailed
from medoa.engines.forms.models import App, FormRecord, FormVersion
from medoa.engines.forms.xlsx import XLSX_TYPE, record_import_xlsx

from .factories import counts, grants, hospital, people, person  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english() -> Any:
    """The services' messages in English (the pages answer in the client's language, Chinese)."""
    with translation.override("en"):
        yield


ROOMS = [{"label": "第一会议室", "value": "r1"}, {"label": "第二会议室", "value": "r2"}]
ROOM_SCHEMA: dict[str, Any] = {
    "type": "default",
    "id": "room_booking",
    "components": [
        {"type": "select", "key": "room", "label": "会议室", "values": ROOMS, "validate": {"required": True}},
        {"type": "textfield", "key": "subject", "label": "会议主题", "validate": {"required": True}},
        {
            "type": "datetime",
            "key": "start",
            "subtype": "datetime",
            "dateLabel": "开始",
            "validate": {"required": True},
        },
        {
            "type": "datetime",
            "key": "end",
            "subtype": "datetime",
            "dateLabel": "结束",
            "validate": {"required": True},
        },
        {"type": "datetime", "key": "day", "subtype": "date", "dateLabel": "日期"},
        {"type": "medoa-staff", "key": "host", "label": "主持人"},
        {"type": "medoa-attachment", "key": "files", "label": "附件"},
    ],
}


@pytest.fixture
def room_form(people: SimpleNamespace) -> FormVersion:
    return services.form_schema_publish(actor=people.it.user, schema=ROOM_SCHEMA, name="会议室预约")


def room_spec(**changes: Any) -> AppSpec:
    spec = AppSpec(
        name="会议室预约",
        form="room_booking",
        list_columns=["room", "subject", "start", "host"],
        roles=["nurse", "head_nurse"],
        conflict_resource="room",
        conflict_start="start",
        conflict_end="end",
    )
    for key, value in changes.items():
        setattr(spec, key, value)
    return spec


@pytest.fixture
def room_app(people: SimpleNamespace, room_form: FormVersion) -> App:
    return app_services.app_create(actor=people.it.user, slug="rooms", spec=room_spec())


def book(staff: Staff, room: str, start: str, end: str, **extra: Any) -> FormRecord:
    data = {"room": room, "subject": "科务会", "start": start, "end": end, **extra}
    return services.record_submit(actor=staff.user, key="room_booking", data=data)


def _errors(exc: Any) -> list[tuple[str, str, str]]:
    return [(e.field, e.code, str(e.message)) for e in exc.value.field_errors]


# --- the builder's services ----------------------------------------------------------------------


def test_a_designer_creates_an_app_and_it_is_audited(people: SimpleNamespace, room_form: FormVersion) -> None:
    app = app_services.app_create(
        actor=people.it.user, slug="rooms", spec=room_spec(description=" 订会议室 ")
    )

    app.refresh_from_db()
    assert (app.slug, app.name, app.form.key, app.description) == (
        "rooms",
        "会议室预约",
        "room_booking",
        "订会议室",
    )
    assert (app.list_columns, app.roles, app.menu_order, app.enabled) == (
        ["room", "subject", "start", "host"],
        ["head_nurse", "nurse"],
        100,
        True,
    )
    assert (app.conflict_resource, app.conflict_start, app.conflict_end) == ("room", "start", "end")
    entry = AuditEntry.objects.filter(action="forms.app.created").get()
    assert entry.details == {
        "slug": "rooms",
        "form": "room_booking",
        "process_key": "",
        "roles": ["head_nurse", "nurse"],
        "shared_records": False,
    }


def test_a_nurse_may_not_build_apps_and_nothing_changes(
    people: SimpleNamespace, room_form: FormVersion
) -> None:
    before = counts()
    with pytest.raises(FormsPermissionDenied):
        app_services.app_create(actor=people.nurse.user, slug="rooms", spec=room_spec())
    assert App.objects.count() == 0
    assert counts() == before


def test_every_problem_of_the_builder_input_is_named(people: SimpleNamespace, room_form: FormVersion) -> None:
    spec = room_spec(
        name="",
        icon="Bad Icon",
        list_columns=["room", "nope", "files"],
        roles=["nurse", "pope"],
        process_key="no_such_process",
        menu_order=-1,
        conflict_resource="host",
        conflict_start="subject",
        conflict_end="start",
    )
    with pytest.raises(FormsInputError) as exc:
        app_services.app_create(actor=people.it.user, slug="New App", spec=spec)

    assert [(field, str(message)) for field, message in exc.value.errors] == [
        ("slug", "Use lower-case letters, digits, _ and -, starting with a letter or digit."),
        ("name", "This field is required."),
        ("icon", "Use lower-case letters, digits and - only."),
        ("process_key", "There is no deployed, active process “no_such_process”."),
        ("roles", "Unknown role “pope”."),
        ("menu_order", "Must be between 0 and 10000."),
        ("list_columns", "The form has no field “nope” to show."),
        ("list_columns", "The form has no field “files” to show."),
        ("conflict_resource", "“host” is not a text, select or radio field of the form."),
        ("conflict_start", "“subject” is not a date or datetime field of the form."),
    ]
    assert App.objects.count() == 0
    assert not AuditEntry.objects.filter(action__startswith="forms.app.").exists()


def test_a_rule_needs_all_three_fields_and_two_different_times(
    people: SimpleNamespace, room_form: FormVersion
) -> None:
    with pytest.raises(FormsInputError) as exc:
        app_services.app_create(actor=people.it.user, slug="rooms", spec=room_spec(conflict_end=""))
    assert [(f, str(m)) for f, m in exc.value.errors] == [
        ("conflict_end", "A conflict rule needs a resource, a start and an end field.")
    ]
    with pytest.raises(FormsInputError) as exc:
        app_services.app_create(actor=people.it.user, slug="rooms", spec=room_spec(conflict_end="start"))
    assert [(f, str(m)) for f, m in exc.value.errors] == [
        ("conflict_end", "The start and the end must be two different fields.")
    ]


def test_the_form_must_be_published_and_the_slug_free(people: SimpleNamespace, room_app: App) -> None:
    services.form_create(actor=people.it.user, key="draft_only", name="草稿", schema={"components": []})
    with pytest.raises(FormsInputError) as exc:
        app_services.app_create(actor=people.it.user, slug="rooms", spec=room_spec(form="draft_only"))
    assert [(f, str(m)) for f, m in exc.value.errors] == [
        ("slug", "There is already an app “rooms”."),
        ("form", "The form “draft_only” has no published version."),
    ]
    with pytest.raises(FormsInputError) as exc:
        app_services.app_create(actor=people.it.user, slug="new", spec=room_spec())
    assert [(f, str(m)) for f, m in exc.value.errors] == [("slug", "“new” is reserved; choose another key.")]


def test_update_and_switching_off_are_audited(people: SimpleNamespace, room_app: App) -> None:
    app_services.app_update(actor=people.it.user, slug="rooms", spec=room_spec(name="订会议室", roles=[]))
    app_services.app_enabled_set(actor=people.it.user, slug="rooms", enabled=False)

    room_app.refresh_from_db()
    assert (room_app.name, room_app.roles, room_app.enabled) == ("订会议室", [], False)
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
                "shared_records": False,
            },
        ),
        ("forms.app.updated", {"slug": "rooms", "fields": ["name", "roles"], "form": "room_booking"}),
        ("forms.app.disabled", {"slug": "rooms"}),
    ]


# --- who sees it ---------------------------------------------------------------------------------


def _menu_keys(staff: Staff) -> list[str]:
    return [link.key for link in app_selectors.app_menu_links(staff.user)]


def test_the_menu_shows_an_app_to_the_roles_that_see_it(people: SimpleNamespace, room_app: App) -> None:
    app_services.app_create(
        actor=people.it.user,
        slug="for-all",
        spec=room_spec(
            name="人人可见", roles=[], menu_order=5, conflict_resource="", conflict_start="", conflict_end=""
        ),
    )

    assert _menu_keys(people.nurse) == ["forms.app.for-all", "forms.app.rooms"]
    assert _menu_keys(people.surgeon) == ["forms.app.for-all"]
    links = app_selectors.app_menu_links(people.nurse.user)
    assert [(link.label, link.url, link.group, link.order) for link in links] == [
        ("人人可见", "/forms/apps/for-all/", "apps", 5),
        ("会议室预约", "/forms/apps/rooms/", "apps", 100),
    ]
    assert "forms.apps" in menu_providers

    app_services.app_enabled_set(actor=people.it.user, slug="rooms", enabled=False)
    assert _menu_keys(people.nurse) == ["forms.app.for-all"]


def test_the_shell_lists_the_app_in_the_apps_group(people: SimpleNamespace, room_app: App) -> None:
    client = Client()
    client.force_login(people.nurse.user)

    html = client.get("/forms/apps/rooms/").content.decode()

    assert (
        '<a href="/forms/apps/rooms/" class="nav-item nav-forms-app-rooms active" '
        'aria-current="page">会议室预约</a>' in html
    )
    client.force_login(people.surgeon.user)
    assert 'nav-forms-app-rooms"' not in client.get("/forms/").content.decode()


# --- pages ---------------------------------------------------------------------------------------


def as_user(staff: Staff | None) -> Client:
    client = Client()
    if staff is not None:
        client.force_login(staff.user)
    return client


def test_builder_pages_are_for_designers(people: SimpleNamespace, room_app: App) -> None:
    assert as_user(None).get("/forms/apps/").status_code == 302
    for path in (
        "/forms/apps/",
        "/forms/apps/new/",
        "/forms/apps/rooms/edit/",
        "/forms/apps/fields/?form=room_booking",
    ):
        assert as_user(people.nurse).get(path).status_code == 403, path
    response = as_user(people.nurse).post("/forms/apps/rooms/enabled/", {"enabled": "0"})
    assert response.status_code == 403
    room_app.refresh_from_db()
    assert room_app.enabled is True

    it = as_user(people.it)
    assert it.get("/forms/apps/").status_code == 200
    fields = it.get("/forms/apps/fields/?form=room_booking").content.decode()
    assert 'name="list_columns" value="subject"' in fields
    assert 'name="list_columns" value="files"' not in fields
    assert '<option value="day">日期 (day)</option>' in fields


def _builder_post(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slug": "rooms2",
        "name": "会议室二",
        "form": "room_booking",
        "process_key": "",
        "list_columns": ["room", "start"],
        "roles": ["nurse"],
        "menu_order": "7",
        "enabled": "on",
        "conflict_resource": "room",
        "conflict_start": "start",
        "conflict_end": "end",
    }
    data.update(changes)
    return data


def test_the_builder_page_creates_an_app(people: SimpleNamespace, room_form: FormVersion) -> None:
    response = as_user(people.it).post("/forms/apps/new/", _builder_post())

    assert response.status_code == 302
    assert response["Location"] == "/forms/apps/"
    app = App.objects.get(slug="rooms2")
    assert (app.list_columns, app.roles, app.menu_order, app.conflict_end) == (
        ["room", "start"],
        ["nurse"],
        7,
        "end",
    )


def test_the_builder_page_shows_errors_beside_their_fields(
    people: SimpleNamespace, room_form: FormVersion
) -> None:
    response = as_user(people.it).post(
        "/forms/apps/new/", _builder_post(slug="Rooms 2", conflict_end="", conflict_start="start")
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert '<span class="field-error" data-field="slug">' in html
    assert (
        '<span class="field-error" data-field="conflict_end">'
        "冲突检查需要同时指定资源字段、开始字段和结束字段。</span>" in html
    )
    assert App.objects.count() == 0


def test_the_toggle_switches_an_app_off(people: SimpleNamespace, room_app: App) -> None:
    response = as_user(people.it).post("/forms/apps/rooms/enabled/", {"enabled": "0"})
    assert response.status_code == 302
    room_app.refresh_from_db()
    assert room_app.enabled is False
    assert as_user(people.it).post("/forms/apps/rooms/enabled/", {"enabled": "maybe"}).status_code == 400


def test_the_app_page_lists_records_with_the_apps_columns(people: SimpleNamespace, room_app: App) -> None:
    book(people.nurse, "r2", "2026-03-02T09:00", "2026-03-02T10:00", host=people.head.pk)

    response = as_user(people.nurse).get("/forms/apps/rooms/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<a class="btn btn-primary" href="/forms/room_booking/fill/" id="app-new-record">' in html
    assert "<td>第二会议室</td><td>科务会</td><td>2026-03-02 09:00</td><td>王主任</td>" in html


def test_an_app_is_not_found_for_roles_that_do_not_see_it(people: SimpleNamespace, room_app: App) -> None:
    assert as_user(people.surgeon).get("/forms/apps/rooms/").status_code == 404
    assert as_user(people.it).get("/forms/apps/rooms/").status_code == 200  # its designer tries it out
    app_services.app_enabled_set(actor=people.it.user, slug="rooms", enabled=False)
    assert as_user(people.nurse).get("/forms/apps/rooms/").status_code == 404
    assert as_user(people.nurse).get("/forms/apps/nope/").status_code == 404


# --- the conflict rule ---------------------------------------------------------------------------


def test_an_overlapping_booking_is_refused_beside_the_start(people: SimpleNamespace, room_app: App) -> None:
    first = book(people.nurse, "r1", "2026-03-02T09:00", "2026-03-02T10:00")
    before = counts()

    with pytest.raises(ValidationFailed) as exc:
        book(people.nurse2, "r1", "2026-03-02T09:30", "2026-03-02T11:00")

    assert _errors(exc) == [
        (
            "start",
            "conflict",
            f"“第一会议室” is already booked from 2026-03-02 09:00 to 2026-03-02 10:00 (record {first.pk}).",
        )
    ]
    assert counts() == before


def test_touching_bookings_another_room_and_dead_bookings_are_allowed(
    people: SimpleNamespace, room_app: App
) -> None:
    first = book(people.nurse, "r1", "2026-03-02T09:00", "2026-03-02T10:00")
    book(people.nurse2, "r1", "2026-03-02T10:00", "2026-03-02T11:00")  # touching: ends as the next starts
    book(people.nurse2, "r1", "2026-03-02T08:00", "2026-03-02T09:00")
    book(people.nurse2, "r2", "2026-03-02T09:00", "2026-03-02T10:00")  # another room

    services.record_status_set(
        actor=people.it.user, record=first, status=RecordStatus.REJECTED, authorized=True
    )
    again = book(
        people.nurse2, "r1", "2026-03-02T09:15", "2026-03-02T09:45"
    )  # the rejected one holds nothing
    assert again.status == RecordStatus.SUBMITTED

    # the rejected booking cannot come back while its time is taken
    with pytest.raises(ValidationFailed) as exc:
        services.record_status_set(
            actor=people.it.user, record=first, status=RecordStatus.SUBMITTED, authorized=True
        )
    assert [(f, c) for f, c, _m in _errors(exc)] == [("start", "conflict")]


def test_a_withdrawn_booking_frees_the_room_and_an_update_is_checked_too(
    people: SimpleNamespace, room_app: App
) -> None:
    mine = book(people.nurse, "r1", "2026-03-02T09:00", "2026-03-02T10:00")
    other = book(people.nurse2, "r1", "2026-03-02T13:00", "2026-03-02T14:00")

    # moving one's own booking onto another one is refused, moving it within its own time is not
    with pytest.raises(ValidationFailed) as exc:
        services.record_update(
            actor=people.nurse2.user,
            record=other,
            data={"room": "r1", "subject": "科务会", "start": "2026-03-02T09:30", "end": "2026-03-02T13:30"},
        )
    assert [(f, c) for f, c, _m in _errors(exc)] == [("start", "conflict")]
    services.record_update(
        actor=people.nurse.user,
        record=mine,
        data={"room": "r1", "subject": "科务会", "start": "2026-03-02T09:00", "end": "2026-03-02T09:30"},
    )

    services.record_status_set(actor=people.nurse.user, record=mine, status=RecordStatus.WITHDRAWN)
    book(people.nurse2, "r1", "2026-03-02T09:00", "2026-03-02T10:00")


def test_an_end_before_the_start_is_refused_beside_the_end(people: SimpleNamespace, room_app: App) -> None:
    with pytest.raises(ValidationFailed) as exc:
        book(people.nurse, "r1", "2026-03-02T10:00", "2026-03-02T10:00")
    assert _errors(exc) == [("end", "end_before_start", "The end must be after the start.")]


def test_time_zones_are_compared_as_instants(people: SimpleNamespace, room_app: App) -> None:
    # 09:00 in Shanghai is 01:00 UTC (TIME_ZONE is Asia/Shanghai)
    book(people.nurse, "r1", "2026-03-02T09:00", "2026-03-02T10:00")
    with pytest.raises(ValidationFailed):
        book(people.nurse2, "r1", "2026-03-02T01:30Z", "2026-03-02T02:30Z")
    book(people.nurse2, "r1", "2026-03-02T10:00+08:00", "2026-03-02T11:00+08:00")


def test_a_disabled_app_checks_nothing(people: SimpleNamespace, room_app: App) -> None:
    book(people.nurse, "r1", "2026-03-02T09:00", "2026-03-02T10:00")
    app_services.app_enabled_set(actor=people.it.user, slug="rooms", enabled=False)
    book(people.nurse2, "r1", "2026-03-02T09:00", "2026-03-02T10:00")


def test_the_fill_page_returns_the_conflict_beside_the_start_field(
    people: SimpleNamespace, room_app: App
) -> None:
    first = book(people.nurse, "r1", "2026-03-02T09:00", "2026-03-02T10:00")
    body = {"data": {"room": "r1", "subject": "培训", "start": "2026-03-02T09:45", "end": "2026-03-02T11:00"}}

    response = as_user(people.nurse2).post(
        reverse("forms:form_fill", args=["room_booking"]),
        data=json.dumps(body),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "start",
            "code": "conflict",
            "message": f"“第一会议室”在 2026-03-02 09:00 至 2026-03-02 10:00 已被预约（记录 {first.pk}）。",
        }
    ]


def _workbook(rows: list[list[Any]]) -> Any:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return SimpleUploadedFile("rooms.xlsx", out.getvalue(), content_type=XLSX_TYPE)


def test_an_import_keeps_the_conflict_rule_against_stored_records_and_its_own_rows(
    people: SimpleNamespace, room_app: App
) -> None:
    """A spreadsheet is no way round the rule: a row clashing with a stored booking, and a row
    clashing with a row above it, are row errors, and nothing is imported."""
    book(people.nurse, "r1", "2026-03-02T09:00", "2026-03-02T10:00")
    before = FormRecord.objects.count()
    header = ["room", "subject", "start", "end"]

    result = record_import_xlsx(
        actor=people.nurse.user,
        key="room_booking",
        file=_workbook(
            [
                header,
                ["r1", "晨会", "2026-03-02T09:30", "2026-03-02T10:30"],  # clashes with the stored one
                ["r2", "科务会", "2026-03-02T09:00", "2026-03-02T10:00"],
                ["r2", "读书会", "2026-03-02T09:45", "2026-03-02T11:00"],  # clashes with row 3
                ["r2", "交班", "2026-03-02T10:00", "2026-03-02T10:30"],  # touches row 3: allowed
            ]
        ),
    )

    assert [(e.row, e.field, e.code) for e in result.errors] == [
        (2, "start", "conflict"),
        (4, "start", "conflict"),
    ]
    assert "row 3" in str(result.errors[1].message)
    assert FormRecord.objects.count() == before


def test_an_import_without_clashes_stores_every_row(people: SimpleNamespace, room_app: App) -> None:
    result = record_import_xlsx(
        actor=people.nurse.user,
        key="room_booking",
        file=_workbook(
            [
                ["room", "subject", "start", "end"],
                ["r1", "晨会", "2026-03-02T08:00", "2026-03-02T08:30"],
                ["r1", "科务会", "2026-03-02T08:30", "2026-03-02T09:00"],
            ]
        ),
    )

    assert result.errors == [] and len(result.records) == 2
