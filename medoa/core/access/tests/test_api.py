"""POST/DELETE /api/v1/auth/token, GET /api/v1/auth/tokens and GET /api/v1/me."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from medoa.core.access.models import ApiToken, LoginFailure, User
from medoa.core.access.tokens import api_token_issue, hash_token
from medoa.core.audit.models import AuditEntry
from medoa.core.org.models import Role

from .helpers import in_both, totp_code

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token"
FAILED_BODY = {
    "detail": "登录失败：用户名、密码或验证码错误，或因失败次数过多账号已被暂时锁定。请稍后再试。",
    "detail_en": "Sign-in failed: the username, password or verification code is wrong, or the account is "
    "temporarily locked after too many failures. Please try again later.",
}


def issue(client: Client, **body: Any) -> Any:
    return client.post(TOKEN_URL, body, content_type="application/json")


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_right_credentials_give_a_token_that_is_stored_hashed(
    client: Client, person: Any, password: str
) -> None:
    # Given
    staff = person("doctor", username="doc")
    # When
    response = issue(client, username="doc", password=password)
    # Then
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    token = ApiToken.objects.get(user=staff.user)
    assert token.key_hash == hash_token(body["token"])
    assert body["token"] not in {token.key_hash, token.prefix}
    assert AuditEntry.objects.filter(action="access.login.succeeded").get().details == {
        "channel": "api",
        "second_factor": False,
    }
    assert AuditEntry.objects.filter(action="access.token.issued", actor=staff.user).count() == 1


def test_the_token_opens_the_api(client: Client, person: Any, password: str) -> None:
    person("doctor", username="doc")
    raw = issue(client, username="doc", password=password).json()["token"]
    assert client.get("/api/v1/me", **bearer(raw)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"username": "nobody", "password": "whatever-password"},
        {"username": "doc", "password": "wrong-password"},
        {"username": "locked", "password": "Medoa@2026-test"},
    ],
)
def test_every_failure_is_the_same_401(client: Client, person: Any, body: dict[str, str]) -> None:
    # Given
    person(username="doc")
    person(username="locked")
    LoginFailure.objects.bulk_create(
        [LoginFailure(username="locked", client_address="10.2.2.2", at=timezone.now()) for _ in range(5)]
    )
    # When
    response = issue(client, **body)
    # Then
    assert response.status_code == 401
    assert response.json() == FAILED_BODY
    assert not ApiToken.objects.exists()
    assert AuditEntry.objects.filter(action="access.login.failed", actor_name=body["username"]).count() == 1


def test_the_api_shares_the_lockout_counters_with_the_login_page(
    client: Client, person: Any, password: str
) -> None:
    # Given four failures on the login page and one on the API
    person(username="doc")
    for _ in range(4):
        client.post("/accounts/login/", {"username": "doc", "password": "wrong"})
    issue(client, username="doc", password="wrong")
    # When
    response = issue(client, username="doc", password=password)
    # Then
    assert response.status_code == 401
    latest = AuditEntry.objects.filter(action="access.login.failed").order_by("-seq").first()
    assert latest is not None
    assert latest.details == {"reason": "locked", "channel": "api"}


def test_totp_users_must_send_a_valid_code(client: Client, totp_user: User, password: str) -> None:
    # When
    missing = issue(client, username="secadmin", password=password)
    wrong = issue(client, username="secadmin", password=password, otp="12345x")
    right = issue(client, username="secadmin", password=password, otp=totp_code())
    # Then
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    reasons = [
        e.details["reason"] for e in AuditEntry.objects.filter(action="access.login.failed").order_by("seq")
    ]
    assert reasons == ["otp_missing", "otp_invalid"]


def test_an_expired_token_is_refused(client: Client, person: Any) -> None:
    # Given
    staff = person(username="doc")
    raw, token = api_token_issue(user=staff.user)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    # When
    response = client.get("/api/v1/me", **bearer(raw))
    # Then
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["detail_en"] == "Authentication required: send a valid bearer token."


def test_a_token_of_a_deactivated_user_is_refused(client: Client, person: Any) -> None:
    staff = person(username="doc")
    raw, _token = api_token_issue(user=staff.user)
    User.objects.filter(pk=staff.user.pk).update(is_active=False)
    assert client.get("/api/v1/me", **bearer(raw)).status_code == 401


def test_delete_revokes_only_the_calling_token(client: Client, person: Any) -> None:
    # Given two tokens
    staff = person(username="doc")
    raw1, token1 = api_token_issue(user=staff.user)
    raw2, token2 = api_token_issue(user=staff.user)
    # When
    response = client.delete(TOKEN_URL, **bearer(raw1))
    # Then
    assert response.status_code == 204
    assert client.get("/api/v1/me", **bearer(raw1)).status_code == 401
    assert client.get("/api/v1/me", **bearer(raw2)).status_code == 200
    token1.refresh_from_db()
    token2.refresh_from_db()
    assert token1.revoked_at is not None
    assert token2.revoked_at is None
    assert AuditEntry.objects.get(action="access.token.revoked").target_id == str(token1.pk)


def test_delete_without_a_token_is_401(client: Client) -> None:
    assert client.delete(TOKEN_URL).status_code == 401


def test_the_token_list_shows_own_tokens_without_secrets(client: Client, person: Any) -> None:
    # Given
    staff = person(username="doc")
    other = person(username="other")
    raw, mine = api_token_issue(user=staff.user, name="phone")
    api_token_issue(user=other.user)
    # When
    response = client.get("/api/v1/auth/tokens", **bearer(raw))
    # Then
    assert response.status_code == 200
    body = response.json()
    assert [(t["id"], t["prefix"], t["name"], t["current"]) for t in body] == [
        (mine.pk, mine.prefix, "phone", True)
    ]
    assert raw not in response.content.decode()
    assert "key_hash" not in body[0]


# --- /me ----------------------------------------------------------------------------------------


@pytest.fixture
def cardiology(department_factory: Any, staff_factory: Any, role_assignment_factory: Any) -> dict[str, Any]:
    hospital = department_factory(code="HOSP", name_zh="示范医院", name_en="Demo Hospital")
    clinical = department_factory(code="CLIN", name_zh="临床", name_en="Clinical", parent=hospital)
    card = department_factory(code="CARD", name_zh="心血管内科", name_en="Cardiology", parent=clinical)
    ward = department_factory(code="CARD-W1", name_zh="心内一病区", name_en="Cardiology ward 1", parent=card)
    head = staff_factory(
        user__username="card_head",
        employee_no="E1001",
        name="王建国",
        gender="M",
        department=card,
        title="chief_physician",
        position="科主任",
        office_phone="8001",
        email="wang@example.org",
    )
    role_assignment_factory(
        staff=head, role=Role.objects.get(code="dept_head"), department=card, include_children=True
    )
    role_assignment_factory(
        staff=head, role=Role.objects.get(code="doctor"), department=ward, include_children=False
    )
    return {"hospital": hospital, "card": card, "ward": ward, "head": head}


def test_me_answers_the_staff_record_department_roles_and_permissions(
    client: Client, cardiology: dict[str, Any]
) -> None:
    # Given
    head = cardiology["head"]
    raw, _token = api_token_issue(user=head.user)
    # When
    response = client.get("/api/v1/me", **bearer(raw))
    # Then
    assert response.status_code == 200
    body = response.json()
    card, ward = cardiology["card"], cardiology["ward"]
    assert {k: v for k, v in body.items() if k not in {"roles", "permissions", "department"}} == {
        "username": "card_head",
        "id": head.pk,
        "employee_no": "E1001",
        "name": "王建国",
        "gender": "M",
        "title": "chief_physician",
        "nursing_level": "",
        "position": "科主任",
        "office_phone": "8001",
        "email": "wang@example.org",
    }
    assert body["department"] == {
        "id": card.pk,
        "code": "CARD",
        "name": "心血管内科",
        "path": ["示范医院", "临床", "心血管内科"],
    }
    assert body["roles"] == [
        {
            "code": "dept_head",
            "name": "科主任",
            "department": {"id": card.pk, "code": "CARD", "name": "心血管内科"},
            "include_children": True,
        },
        {
            "code": "doctor",
            "name": "医生",
            "department": {"id": ward.pk, "code": "CARD-W1", "name": "心内一病区"},
            "include_children": False,
        },
    ]
    assert body["permissions"] == sorted(body["permissions"], key=lambda p: p["code"])
    assert all(set(p) == {"code", "scope"} for p in body["permissions"])
    assert "access.grant.manage" not in {p["code"] for p in body["permissions"]}


def test_me_lists_granted_permissions_with_the_widest_scope(client: Client, person: Any) -> None:
    # Given a security administrator
    staff = person("sec_admin", username="secadmin")
    raw, _token = api_token_issue(user=staff.user)
    # When
    body = client.get("/api/v1/me", **bearer(raw)).json()
    # Then
    perms = {p["code"]: p["scope"] for p in body["permissions"]}
    assert perms["access.grant.manage"] == "all"
    assert perms["access.session.manage"] == "all"


def test_me_for_an_account_without_a_staff_record(client: Client, user_factory: Any) -> None:
    user = user_factory(username="bootstrap")
    raw, _token = api_token_issue(user=user)
    body = client.get("/api/v1/me", **bearer(raw)).json()
    assert body["username"] == "bootstrap"
    assert (body["id"], body["department"], body["roles"], body["permissions"]) == (None, None, [], [])


@pytest.mark.parametrize(
    "header",
    [{}, {"HTTP_AUTHORIZATION": "Bearer moa_not-a-real-token"}, {"HTTP_AUTHORIZATION": "Basic eDp5"}],
)
def test_me_refuses_anonymous_and_bad_tokens(client: Client, header: dict[str, str]) -> None:
    response = client.get("/api/v1/me", **header)
    assert response.status_code == 401
    zh, en = in_both("Authentication required: send a valid bearer token.")
    assert response.json() == {"detail": zh, "detail_en": en}
    assert zh.startswith("需要身份")


def test_me_takes_at_most_four_queries(
    client: Client, cardiology: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    # Given
    raw, _token = api_token_issue(user=cardiology["head"].user)
    # When / Then
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/me", **bearer(raw))
    assert response.status_code == 200


def test_me_only_shows_the_caller(client: Client, cardiology: dict[str, Any], person: Any) -> None:
    # Given another person's token
    other = person("nurse", username="nurse1")
    raw, _token = api_token_issue(user=other.user)
    # When
    body = client.get("/api/v1/me", **bearer(raw)).json()
    # Then
    assert body["username"] == "nurse1"
    assert body["id"] == other.pk
    assert [r["code"] for r in body["roles"]] == ["nurse"]


@pytest.mark.parametrize("role", ["sys_admin", "sec_admin", "audit_admin"])
def test_administrators_without_totp_get_no_token(
    client: Client, person: Any, password: str, role: str
) -> None:
    # Given
    person(role, username="admin1")
    # When
    response = issue(client, username="admin1", password=password)
    # Then
    assert response.status_code == 403
    assert response.json() == {
        "detail": "您的角色要求开启两步验证：请先在网页端完成设置。",
        "detail_en": "Your role requires two-step verification: set it up in the web application first.",
    }
    assert not ApiToken.objects.exists()
    assert not LoginFailure.objects.exists()
    entry = AuditEntry.objects.get(action="access.login.failed")
    assert entry.details == {"reason": "totp_not_enrolled", "channel": "api"}


def test_a_password_that_must_change_gets_no_token(client: Client, person: Any, password: str) -> None:
    # Given
    staff = person("doctor", username="doc")
    User.objects.filter(pk=staff.user.pk).update(must_change_password=True)
    # When
    response = issue(client, username="doc", password=password)
    # Then
    assert response.status_code == 403
    assert response.json()["detail_en"] == "Your password must be changed in the web application first."
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("username", ["ad\x00min", "\x00"])
def test_a_nul_character_in_the_username_is_an_ordinary_failure(client: Client, username: str) -> None:
    response = issue(client, username=username, password="whatever-password")
    assert response.status_code == 401
    assert LoginFailure.objects.get().username == username.replace("\x00", "\ufffd")


def test_a_nul_character_on_the_login_page_is_a_field_error(client: Client) -> None:
    response = client.post("/accounts/login/", {"username": "ad\x00min", "password": "x"})
    assert response.status_code == 200
    assert 'class="field-error"' in response.content.decode()
    assert not LoginFailure.objects.exists()
