"""The inbox page and the mark-read actions (page and workbench card)."""

from __future__ import annotations

from typing import Any

import pytest

from medoa.core.notify.models import Notification
from medoa.core.notify.services import notification_send

pytestmark = pytest.mark.django_db


@pytest.fixture
def me(staff_factory: Any) -> Any:
    return staff_factory().user


@pytest.fixture
def other(staff_factory: Any) -> Any:
    return staff_factory().user


@pytest.fixture
def my_client(client: Any, me: Any) -> Any:
    client.force_login(me)
    return client


def _unread(user: Any) -> list[str]:
    return list(
        Notification.objects.filter(recipient=user, read_at__isnull=True).values_list("title", flat=True)
    )


def test_inbox_pages_through_the_users_notifications(my_client: Any, me: Any, other: Any, inbox: Any) -> None:
    inbox(me, 25)
    inbox(other, 3, prefix="other")

    first = my_client.get("/notifications/")
    second = my_client.get("/notifications/?page=2")

    assert first.status_code == 200
    assert [n.title for n in first.context["page"].object_list] == [f"n{i}" for i in range(24, 4, -1)]
    assert [n.title for n in second.context["page"].object_list] == ["n4", "n3", "n2", "n1", "n0"]
    html = second.content.decode()
    assert "other" not in "".join(n.title for n in second.context["page"].object_list)
    assert '<nav class="pager"' in html
    assert "第 2 页，共 2 页" in html
    assert '<a href="?page=1" rel="prev">上一页</a>' in html


def test_inbox_filters_unread_and_keeps_the_filter_while_paging(my_client: Any, me: Any, inbox: Any) -> None:
    sent = inbox(me, 23)
    Notification.objects.filter(pk=sent[0].pk).update(read_at=sent[0].created_at)

    response = my_client.get("/notifications/?show=unread&page=2")

    assert [n.title for n in response.context["page"].object_list] == ["n2", "n1"]
    assert '<a href="?show=unread&amp;page=1" rel="prev">' in response.content.decode()


@pytest.mark.parametrize("query", ["?page=abc", "?page=-3", "?page=999", "?show=bogus"])
def test_inbox_tolerates_odd_query_values(my_client: Any, me: Any, inbox: Any, query: str) -> None:
    inbox(me, 2)
    response = my_client.get("/notifications/" + query)
    assert response.status_code == 200


def test_empty_inbox(my_client: Any) -> None:
    assert "收件箱是空的。" in my_client.get("/notifications/").content.decode()


def test_mark_one_read_and_return_to_next(my_client: Any, me: Any, inbox: Any) -> None:
    sent = inbox(me, 2)

    response = my_client.post(f"/notifications/{sent[0].pk}/read/", {"next": "/notifications/?page=1"})

    assert response.status_code == 302
    assert response["Location"] == "/notifications/?page=1"
    assert _unread(me) == ["n1"]


def test_mark_read_never_redirects_off_site(my_client: Any, me: Any, inbox: Any) -> None:
    [n] = inbox(me, 1)

    response = my_client.post(f"/notifications/{n.pk}/read/", {"next": "https://evil.example/"})

    assert response["Location"] == "/notifications/"


def test_another_users_notification_is_404_and_stays_unread(my_client: Any, other: Any, inbox: Any) -> None:
    [theirs] = inbox(other, 1)

    response = my_client.post(f"/notifications/{theirs.pk}/read/")

    assert response.status_code == 404
    assert _unread(other) == ["n0"]


def test_unknown_id_is_404(my_client: Any) -> None:
    assert my_client.post("/notifications/999999/read/").status_code == 404


def test_mark_read_takes_only_post(my_client: Any, me: Any, inbox: Any) -> None:
    [n] = inbox(me, 1)

    assert my_client.get(f"/notifications/{n.pk}/read/").status_code == 405
    assert my_client.get("/notifications/read-all/").status_code == 405
    assert _unread(me) == ["n0"]


def test_mark_all_read_touches_only_mine(my_client: Any, me: Any, other: Any, inbox: Any) -> None:
    inbox(me, 3)
    inbox(other, 2)

    response = my_client.post("/notifications/read-all/", {"next": "/"})

    assert response["Location"] == "/"
    assert _unread(me) == []
    assert len(_unread(other)) == 2


def test_htmx_mark_read_returns_the_refreshed_card_and_the_badge(my_client: Any, me: Any, inbox: Any) -> None:
    sent = inbox(me, 7)

    response = my_client.post(f"/notifications/{sent[6].pk}/read/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert [n.title for n in response.context["notifications"]] == ["n5", "n4", "n3", "n2", "n1"]
    assert ">n6<" not in html
    assert ">n5<" in html
    assert '<span id="unread-badge" class="badge badge-danger topbar-badge" hx-swap-oob="true">6<span' in html
    assert "收件箱中有 6 条未读" in html
    assert "<html" not in html


def test_htmx_mark_all_read_empties_the_card(my_client: Any, me: Any, inbox: Any) -> None:
    inbox(me, 3)

    html = my_client.post("/notifications/read-all/", HTTP_HX_REQUEST="true").content.decode()

    assert "没有未读通知。" in html
    assert 'id="unread-badge" class="badge badge-danger topbar-badge" hx-swap-oob="true" hidden>0' in html


def test_unsafe_links_are_not_rendered(my_client: Any, me: Any) -> None:
    notification_send(recipients=[me], title="bad", link="javascript:alert(1)")
    notification_send(recipients=[me], title="good", link="/approvals/7/")

    html = my_client.get("/notifications/").content.decode()

    assert "javascript:" not in html
    assert '<a class="notify-title" href="/approvals/7/">good</a>' in html
    assert '<span class="notify-title">bad</span>' in html


def test_anonymous_is_sent_to_sign_in(client: Any, me: Any, inbox: Any) -> None:
    [n] = inbox(me, 1)

    assert client.get("/notifications/").status_code == 302
    assert client.post(f"/notifications/{n.pk}/read/").status_code == 302
    assert _unread(me) == ["n0"]
