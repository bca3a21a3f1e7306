from __future__ import annotations

from typing import Any

import pytest

from medoa.core.notify.models import Notification
from medoa.core.notify.selectors import (
    notification_get_for_user,
    notification_latest_unread,
    notification_list_for_user,
    notification_unread_count,
)
from medoa.core.notify.services import notification_mark_read

pytestmark = pytest.mark.django_db


def test_list_holds_only_the_users_own_newest_first(user_factory: Any, inbox: Any) -> None:
    me, other = user_factory(), user_factory()
    inbox(me, 3)
    inbox(other, 2, prefix="other")

    assert [n.title for n in notification_list_for_user(user=me)] == ["n2", "n1", "n0"]


def test_unread_filter_and_count(user_factory: Any, inbox: Any) -> None:
    me = user_factory()
    sent = inbox(me, 4)
    notification_mark_read(user=me, ids=[sent[1].pk])

    assert [n.title for n in notification_list_for_user(user=me, unread_only=True)] == ["n3", "n2", "n0"]
    assert notification_unread_count(user=me) == 3


def test_latest_unread_is_one_query_and_limited(
    user_factory: Any, inbox: Any, django_assert_num_queries: Any
) -> None:
    me = user_factory()
    inbox(me, 8)

    with django_assert_num_queries(1):
        latest = notification_latest_unread(user=me, limit=5)

    assert [n.title for n in latest] == ["n7", "n6", "n5", "n4", "n3"]


def test_get_for_user_refuses_another_users_notification(user_factory: Any, inbox: Any) -> None:
    me, other = user_factory(), user_factory()
    [theirs] = inbox(other, 1)
    [mine] = inbox(me, 1)

    assert notification_get_for_user(user=me, notification_id=mine.pk) == mine
    with pytest.raises(Notification.DoesNotExist):
        notification_get_for_user(user=me, notification_id=theirs.pk)
