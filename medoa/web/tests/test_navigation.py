"""The side navigation: groups, permission filtering, the active entry, and the top bar."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from medoa.core.notify.models import Notification
from medoa.core.notify.services import notification_mark_read, notification_send
from medoa.core.registries import MenuEntry, MenuLink
from medoa.web.navigation import build_nav

pytestmark = pytest.mark.django_db


def _labels(groups: Any) -> list[tuple[str, list[tuple[str, bool]]]]:
    return [(g.key, [(i.key, i.active) for i in g.items]) for g in groups]


ENTRIES = [
    MenuEntry("wb", "Workbench", "web:workbench", group="main", order=0),
    MenuEntry("inbox", "Inbox", "notify:notification_list", group="main", order=20),
    MenuEntry("audit", "Audit log", "notify:notification_list", group="audit", permission="test.audit.view"),
    MenuEntry("broken", "Not routed", "nowhere:missing", group="main"),
    MenuEntry("custom", "Custom", "notify:notification_read_all", group="zzz-custom"),
    MenuEntry("admin_b", "B", "web:healthz", group="admin", order=5),
    MenuEntry("admin_a", "A", "web:healthz", group="admin", order=5),
]


def test_groups_follow_the_documented_order_and_hide_what_the_user_may_not_use(make_staff: Any) -> None:
    staff = make_staff("doctor")

    groups = build_nav(user=staff.user, path="/", entries=ENTRIES)

    assert _labels(groups) == [
        ("main", [("wb", True), ("inbox", False)]),
        ("admin", [("admin_a", False), ("admin_b", False)]),
        ("zzz-custom", [("custom", False)]),
    ]
    with translation.override("zh-hans"):
        assert [str(g.label) for g in groups] == ["常用", "系统管理", "zzz-custom"]


def test_entry_with_permission_is_shown_to_holders(make_staff: Any, grant: Any) -> None:
    staff = make_staff("audit_admin")
    grant("audit_admin", "test.audit.view")

    groups = build_nav(user=staff.user, path="/notifications/", entries=ENTRIES)

    keys = [(g.key, [i.key for i in g.items]) for g in groups]
    assert ("audit", ["audit"]) in keys


def test_the_longest_matching_url_is_the_active_entry(make_staff: Any) -> None:
    staff = make_staff("doctor")
    entries = [
        MenuEntry("wb", "Workbench", "web:workbench"),
        MenuEntry("inbox", "Inbox", "notify:notification_list"),
        MenuEntry("readall", "Read all", "notify:notification_read_all"),
    ]

    groups = build_nav(user=staff.user, path="/notifications/read-all/", entries=entries)

    assert _labels(groups) == [("main", [("inbox", False), ("readall", True), ("wb", False)])]
    assert groups[0].active is True


def test_no_entry_is_active_on_an_unrelated_page(make_staff: Any) -> None:
    staff = make_staff("doctor")
    groups = build_nav(user=staff.user, path="/notificationsX/", entries=ENTRIES[:2])
    assert _labels(groups) == [("main", [("wb", False), ("inbox", False)])]


def test_a_menu_provider_adds_the_links_it_computes_for_the_user(make_staff: Any) -> None:
    staff = make_staff("nurse")
    seen: list[Any] = []

    def provider(user: Any) -> list[MenuLink]:
        seen.append(user)
        return [
            MenuLink("app.rooms", "会议室预约", "/forms/apps/rooms/", group="apps", order=1),
            MenuLink("app.late", "Late", "/x/", group="main", order=500),
        ]

    groups = build_nav(user=staff.user, path="/forms/apps/rooms/", entries=ENTRIES[:2], providers=[provider])

    assert seen == [staff.user]
    assert _labels(groups) == [
        ("main", [("wb", False), ("inbox", False), ("app.late", False)]),
        ("apps", [("app.rooms", True)]),
    ]
    with translation.override("zh-hans"):
        assert str(groups[1].label) == "应用"


def test_shell_shows_name_department_badge_and_navigation(
    make_staff: Any, hospital: Any, signed_in: Any
) -> None:
    staff = make_staff("nurse", department=hospital["ward"], name="李娜")
    notification_send(recipients=[staff.user], title="一")
    notification_send(recipients=[staff.user], title="二")

    response = signed_in(staff).get("/notifications/")

    html = response.content.decode()
    assert '<span class="user-name">李娜</span>' in html
    assert '<span class="user-dept">心内一病区</span>' in html
    assert '<span id="unread-badge" class="badge badge-danger topbar-badge">2<span' in html
    assert (
        '<a href="/notifications/" class="nav-item nav-notify-inbox active" aria-current="page">通知</a>'
        in html
    )
    assert '<a href="/" class="nav-item nav-web-workbench">工作台</a>' in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert '<script src="/static/vendor/htmx/htmx.min.js" defer></script>' in html
    assert '<script src="/static/vendor/alpine/alpine-csp.min.js" defer></script>' in html


def test_badge_is_hidden_without_unread_notifications(make_staff: Any, signed_in: Any) -> None:
    staff = make_staff("nurse")
    notification_send(recipients=[staff.user], title="一")
    notification_mark_read(user=staff.user)

    html = signed_in(staff).get("/").content.decode()

    assert '<span id="unread-badge" class="badge badge-danger topbar-badge" hidden>0<span' in html


def test_badge_caps_at_99(make_staff: Any, signed_in: Any) -> None:
    staff = make_staff("nurse")
    Notification.objects.bulk_create([Notification(recipient=staff.user, title=f"n{i}") for i in range(120)])

    html = signed_in(staff).get("/").content.decode()

    assert '<span id="unread-badge" class="badge badge-danger topbar-badge">99+<span' in html


def test_language_switch_posts_the_current_path(make_staff: Any, signed_in: Any) -> None:
    staff = make_staff("nurse")

    html = signed_in(staff).get("/notifications/?show=unread").content.decode()

    assert '<form class="lang-switch" action="/i18n/setlang/" method="post">' in html
    assert '<input type="hidden" name="next" value="/notifications/?show=unread">' in html
    assert '<form class="logout-form" action="/accounts/logout/" method="post">' in html


def test_pages_carry_no_inline_script_or_style(make_staff: Any, signed_in: Any) -> None:
    staff = make_staff("nurse")
    notification_send(recipients=[staff.user], title="x")
    client = signed_in(staff)

    for url in ("/", "/notifications/", "/notifications/?show=unread"):
        html = client.get(url).content.decode()
        assert "<script>" not in html
        assert "<style" not in html
        assert "style=" not in html
        assert " x-data=" not in html
        assert "hx-on" not in html
