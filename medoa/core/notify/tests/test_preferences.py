"""The preferences page: channels per kind (only those the deployment offers), quiet hours,
language; bad input answered per field with nothing saved."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import override_settings

from medoa.core.notify.models import NotificationPreference

pytestmark = pytest.mark.django_db


@override_settings(MEDOA_NOTIFY_CHANNELS="sms,im")
def test_save_preferences(client: Any, staff_factory: Any) -> None:
    me = staff_factory().user
    client.force_login(me)

    page = client.get("/notifications/preferences/")
    response = client.post(
        "/notifications/preferences/",
        {
            "ch_critical": ["sms", "im", "email"],
            "ch_task": ["im"],
            "quiet_start": "22:00",
            "quiet_end": "07:00",
            "language": "en",
        },
    )

    assert page.status_code == 200
    assert 'name="ch_critical" value="sms"' in page.content.decode()
    assert 'value="email"' not in page.content.decode()
    assert response.status_code == 302
    pref = NotificationPreference.objects.get(user=me)
    assert pref.channels["critical"] == ["sms", "im"]
    assert pref.channels["task"] == ["im"]
    assert pref.channels["*"] == []
    assert (pref.quiet_start, pref.quiet_end, pref.language) == (dt.time(22), dt.time(7), "en")


def test_bad_input_is_refused_per_field(client: Any, staff_factory: Any) -> None:
    me = staff_factory().user
    client.force_login(me)

    bad_time = client.post(
        "/notifications/preferences/", {"quiet_start": "25:99", "quiet_end": "", "language": "xx"}
    )
    one_end = client.post(
        "/notifications/preferences/", {"quiet_start": "22:00", "quiet_end": "", "language": "en"}
    )
    anonymous = client.__class__().get("/notifications/preferences/")

    assert bad_time.status_code == 400
    assert set(bad_time.context["errors"]) == {"quiet_start", "language"}
    assert one_end.status_code == 400
    assert set(one_end.context["errors"]) == {"quiet_end"}
    assert anonymous.status_code == 302
    assert not NotificationPreference.objects.exists()
