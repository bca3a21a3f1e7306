"""POST /api/v1/integration/hl7: an ER7 body with a system API key → the ACK as text/plain."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from medoa.core.access.system_keys import create_system_key, revoke_system_key
from medoa.integration.hl7.models import Message, MessageStatus

from .hl7_samples import message, segments_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/integration/hl7"


@pytest.fixture
def his_key() -> str:
    _key, raw = create_system_key(actor=None, name="HIS", scopes=["hl7:adt"])
    return raw


def post(
    body: bytes | str, *, key: str | None = None, content_type: str = "application/hl7-v2", **headers: str
) -> Any:
    extra: dict[str, Any] = dict(headers)
    if key:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    data = body.encode() if isinstance(body, str) else body
    return Client().post(URL, data=data, content_type=content_type, **extra)


def test_message_with_a_key_is_stored_and_acknowledged(his_key: str) -> None:
    response = post(message("H1"), key=his_key)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert segments_of(response.content)["MSA"][1:3] == ["AA", "H1"]
    row = Message.objects.get()
    assert row.api_key is not None
    assert (row.transport, row.status, row.api_key.name) == ("http", MessageStatus.RECEIVED, "HIS")


def test_x_api_key_header_and_text_plain(his_key: str) -> None:
    response = post(message("H2"), content_type="text/plain", HTTP_X_API_KEY=his_key)
    assert response.status_code == 200
    assert segments_of(response.content)["MSA"][1] == "AA"


def test_without_a_key_nothing_is_stored() -> None:
    response = post(message("H3"))
    assert response.status_code == 401
    assert Message.objects.count() == 0


def test_wrong_or_revoked_key_is_refused(his_key: str) -> None:
    assert post(message("H4"), key="msk_00000000_nope").status_code == 401
    key, raw = create_system_key(actor=None, name="old", scopes=["hl7:adt"])
    revoke_system_key(actor=None, key=key)
    assert post(message("H5"), key=raw).status_code == 401
    assert Message.objects.count() == 0


def test_scope_missing_for_the_message_type_is_answered_ar_and_stored_rejected(his_key: str) -> None:
    response = post(message("H6", kind="ORU^R01"), key=his_key)

    assert response.status_code == 200
    ack = segments_of(response.content)
    assert ack["MSA"][1:3] == ["AR", "H6"]
    assert ack["ERR"][8] == "this API key may not send hl7:oru"
    row = Message.objects.get()
    assert row.status == MessageStatus.REJECTED and row.status_reason == "this API key may not send hl7:oru"


def test_http_is_not_subject_to_the_mllp_allow_list(his_key: str) -> None:
    # No Sender rows at all: over HTTP the key decides.
    assert segments_of(post(message("H7"), key=his_key).content)["MSA"][1] == "AA"


def test_duplicate_over_http(his_key: str) -> None:
    first = post(message("H8"), key=his_key).content
    second = post(message("H8"), key=his_key).content
    assert first == second
    assert sorted(Message.objects.values_list("status", flat=True)) == ["duplicate", "received"]


def test_enhanced_ne_still_answers_over_http(his_key: str) -> None:
    response = post(message("H9", accept_ack="NE", application_ack="NE"), key=his_key)
    assert segments_of(response.content)["MSA"][1:3] == ["CA", "H9"]


def test_gb18030_over_http(his_key: str) -> None:
    body = message("H10", charset="GB 18030-2000", name="李^四").encode("gb18030")
    response = post(body, key=his_key)
    assert response["Content-Type"] == "text/plain; charset=gb18030"
    assert segments_of(response.content, "gb18030")["MSA"][1] == "AA"
    assert "李^四" in Message.objects.get().raw


def test_other_content_type_is_415(his_key: str) -> None:
    response = post(message("H11"), key=his_key, content_type="application/json")
    assert response.status_code == 415
    assert Message.objects.count() == 0


def test_malformed_body_is_answered_and_stored(his_key: str) -> None:
    response = post("hello", key=his_key)
    assert response.status_code == 200
    assert segments_of(response.content)["MSA"][1] == "AR"
    assert Message.objects.get().status == MessageStatus.REJECTED
