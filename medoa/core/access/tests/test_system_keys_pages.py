"""The system API key pages and /api/v1/system-keys: who may use them, the key shown once, audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from medoa.core.access.models import SystemApiKey
from medoa.core.access.services import totp_set
from medoa.core.access.system_keys import (
    authenticate_system_key,
    create_system_key,
    hash_key,
    revoke_system_key,
)
from medoa.core.audit.models import AuditEntry
from medoa.core.registries import menu

from .helpers import TOTP_SECRET

pytestmark = pytest.mark.django_db

LIST = "/accounts/system-keys/"
NEW = "/accounts/system-keys/new/"
API = "/api/v1/system-keys"


@pytest.fixture
def it_staff(person: Any) -> Any:
    return person("it", username="it1")


@pytest.fixture
def sys_admin(person: Any) -> Any:
    staff = person("sys_admin", username="sysadm")
    totp_set(user=staff.user, secret=TOTP_SECRET)
    return staff


@pytest.fixture
def it_client(client: Client, it_staff: Any) -> Client:
    client.force_login(it_staff.user)
    return client


# --- pages ----------------------------------------------------------------------------------------


def test_the_menu_entry_sits_in_the_admin_group_behind_the_permission() -> None:
    entry = menu.get("access.system_keys")
    assert entry.group == "admin"
    assert entry.permission == "access.system_key.manage"
    assert entry.url_name == "access:systemkey_list"


@pytest.mark.parametrize("who", ["it", "sys_admin"])
def test_it_and_the_system_administrator_see_the_keys(client: Client, person: Any, who: str) -> None:
    staff = person(who, username="u1")
    if who == "sys_admin":
        totp_set(user=staff.user, secret=TOTP_SECRET)
    create_system_key(actor=staff.user, name="LIS 检验", system="LIS", scopes=["hl7:oru"])
    client.force_login(staff.user)
    response = client.get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert "LIS 检验" in html and "hl7:oru" in html
    assert "系统接口密钥" in html


@pytest.mark.parametrize("who", ["doctor", "hr", "sec_admin"])
def test_other_roles_may_not_see_create_or_revoke(
    client: Client, person: Any, it_staff: Any, who: str
) -> None:
    key, _raw = create_system_key(actor=it_staff.user, name="HIS", scopes=["hl7:adt"])
    staff = person(who, username="u1")
    if who == "sec_admin":
        totp_set(user=staff.user, secret=TOTP_SECRET)
    client.force_login(staff.user)
    assert client.get(LIST).status_code == 403
    assert client.post(NEW, {"name": "x", "scopes": ["hl7:adt"]}).status_code == 403
    assert client.post(f"/accounts/system-keys/{key.pk}/revoke/").status_code == 403
    assert SystemApiKey.objects.count() == 1
    key.refresh_from_db()
    assert key.revoked_at is None


def test_anonymous_is_sent_to_sign_in(client: Client) -> None:
    response = client.get(LIST)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_creating_a_key_shows_it_once(it_client: Client, it_staff: Any) -> None:
    # Given the form
    form = it_client.get(NEW)
    assert form.status_code == 200
    assert "hl7:adt" in form.content.decode() and "events:publish:hr.*" in form.content.decode()
    # When
    response = it_client.post(
        NEW,
        {
            "name": "HIS production",
            "system": "东软 HIS",
            "scopes": ["hl7:adt", "hl7:oru"],
            "extra_scopes": "fhir:*\nevents:publish:hr.employee.*",
        },
    )
    # Then the key is on the answer, not cached, and never again
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    key = SystemApiKey.objects.get()
    assert key.scopes == ["hl7:adt", "hl7:oru", "fhir:*", "events:publish:hr.employee.*"]
    raw = response.context["raw"]
    assert key.key_hash == hash_key(raw)
    assert raw in response.content.decode()
    assert raw not in it_client.get(LIST).content.decode()
    assert authenticate_system_key(raw) is not None
    assert AuditEntry.objects.filter(action="access.system_key.created", actor=it_staff.user).count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "", "scopes": ["hl7:adt"]}, "name"),
        ({"name": "HIS", "scopes": []}, "scopes"),
        ({"name": "HIS", "scopes": ["hl7:nope"]}, "scopes"),
        ({"name": "HIS", "extra_scopes": "not a scope!"}, "extra_scopes"),
    ],
)
def test_bad_input_is_shown_on_the_form_and_nothing_is_created(
    it_client: Client, data: dict[str, Any], field: str
) -> None:
    response = it_client.post(NEW, data)
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert SystemApiKey.objects.count() == 0
    assert not AuditEntry.objects.filter(action="access.system_key.created").exists()


def test_revoking_asks_for_confirmation_then_revokes(it_client: Client, it_staff: Any) -> None:
    key, raw = create_system_key(actor=it_staff.user, name="HIS", scopes=["hl7:adt"])
    url = f"/accounts/system-keys/{key.pk}/revoke/"
    confirm = it_client.get(url)
    assert confirm.status_code == 200
    key.refresh_from_db()
    assert key.revoked_at is None
    response = it_client.post(url)
    assert response.status_code == 302 and response["Location"] == LIST
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == it_staff.user
    assert authenticate_system_key(raw) is None
    assert AuditEntry.objects.filter(action="access.system_key.revoked", actor=it_staff.user).count() == 1


def test_an_unknown_key_is_404(it_client: Client) -> None:
    assert it_client.get("/accounts/system-keys/999999/revoke/").status_code == 404


# --- API ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("doctor", 403), ("hr", 403), ("it", 201)])
def test_api_create_permission_matrix(
    api_as: Callable[..., Client], person: Any, who: str | None, status: int
) -> None:
    staff = person(who, username="u1") if who else None
    response = api_as(staff).post(
        API, {"name": "HR feed", "scopes": ["events:publish:hr.*"]}, content_type="application/json"
    )
    assert response.status_code == status
    if status == 201:
        body = response.json()
        key = SystemApiKey.objects.get()
        assert body["id"] == key.pk and body["prefix"] == key.prefix
        assert key.key_hash == hash_key(body["key"])
        assert body["scopes"] == ["events:publish:hr.*"]
        assert body["created_by"] == "u1"
    else:
        assert SystemApiKey.objects.count() == 0


def test_api_list_never_shows_a_secret(api_as: Callable[..., Client], it_staff: Any) -> None:
    key, raw = create_system_key(actor=it_staff.user, name="HIS", scopes=["hl7:adt"])
    response = api_as(it_staff).get(API)
    assert response.status_code == 200
    assert raw not in response.content.decode()
    [item] = response.json()
    assert item["id"] == key.pk and item["revoked_at"] is None and "key" not in item


def test_api_bad_scope_is_422_naming_the_field(api_as: Callable[..., Client], it_staff: Any) -> None:
    response = api_as(it_staff).post(API, {"name": "HIS", "scopes": ["hl7"]}, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "scopes"
    assert SystemApiKey.objects.count() == 0


def test_api_revoke(api_as: Callable[..., Client], it_staff: Any, person: Any) -> None:
    key, raw = create_system_key(actor=it_staff.user, name="HIS", scopes=["hl7:adt"])
    doctor = person("doctor", username="doc")
    assert api_as(doctor).post(f"{API}/{key.pk}/revoke").status_code == 403
    assert authenticate_system_key(raw) is not None
    response = api_as(it_staff).post(f"{API}/{key.pk}/revoke")
    assert response.status_code == 200
    assert response.json()["revoked_by"] == "it1"
    assert authenticate_system_key(raw) is None
    assert api_as(it_staff).post(f"{API}/999999/revoke").status_code == 404


def test_a_system_key_cannot_manage_keys(it_staff: Any) -> None:
    _key, raw = create_system_key(actor=it_staff.user, name="HIS", scopes=["hl7:adt"])
    response = Client().get(API, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401


# --- changing scopes ------------------------------------------------------------------------------


def test_scopes_are_changed_on_their_page_and_the_key_stays_the_same(
    it_client: Client, it_staff: Any
) -> None:
    key, raw = create_system_key(actor=it_staff.user, name="HIS", scopes=["hl7:adt", "fhir:Patient*"])
    url = f"/accounts/system-keys/{key.pk}/scopes/"
    page = it_client.get(url)
    assert page.status_code == 200
    assert page.context["form"].initial == {"scopes": ["hl7:adt"], "extra_scopes": "fhir:Patient*"}
    response = it_client.post(url, {"scopes": ["hl7:adt", "hl7:oru"], "extra_scopes": ""})
    assert response.status_code == 302 and response["Location"] == LIST
    found = authenticate_system_key(raw)
    assert found is not None and found.scopes == ["hl7:adt", "hl7:oru"]
    assert (
        AuditEntry.objects.filter(action="access.system_key.scopes_changed", actor=it_staff.user).count() == 1
    )


def test_no_scopes_is_refused_on_the_page_and_nothing_changes(it_client: Client, it_staff: Any) -> None:
    key, _raw = create_system_key(actor=it_staff.user, name="HIS", scopes=["hl7:adt"])
    response = it_client.post(f"/accounts/system-keys/{key.pk}/scopes/", {"extra_scopes": ""})
    assert response.status_code == 200 and response.context["form"].errors["scopes"]
    key.refresh_from_db()
    assert key.scopes == ["hl7:adt"]


def test_a_revoked_keys_scopes_cannot_be_changed(it_client: Client, it_staff: Any) -> None:
    key, _raw = create_system_key(actor=it_staff.user, name="HIS", scopes=["hl7:adt"])
    revoke_system_key(actor=it_staff.user, key=key)
    response = it_client.post(f"/accounts/system-keys/{key.pk}/scopes/", {"scopes": ["hl7:oru"]})
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.scopes == ["hl7:adt"]


def test_api_scopes_change(api_as: Callable[..., Client], it_staff: Any, person: Any) -> None:
    key, raw = create_system_key(actor=it_staff.user, name="HIS", scopes=["hl7:adt"])
    url = f"{API}/{key.pk}/scopes"
    doctor = person("doctor", username="doc")
    body = {"scopes": ["fhir:*"]}
    assert api_as(doctor).put(url, body, content_type="application/json").status_code == 403
    response = api_as(it_staff).put(url, body, content_type="application/json")
    assert response.status_code == 200 and response.json()["scopes"] == ["fhir:*"]
    bad = api_as(it_staff).put(url, {"scopes": ["nope"]}, content_type="application/json")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "scopes"
    found = authenticate_system_key(raw)
    assert found is not None and found.scopes == ["fhir:*"]
