"""The per-process access cache: what it saves, what invalidates it at once, and its staleness
bound for changes it cannot see (made by another process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from medoa.core.access import cache, tokens
from medoa.core.access.choices import DataScope
from medoa.core.access.models import RoleGrant, User, UserSession
from medoa.core.access.policy import has_perm, principal_of
from medoa.core.access.services import api_token_revoke, role_grants_set, user_sessions_end
from medoa.core.access.tokens import api_token_issue
from medoa.core.org.models import Role, RoleAssignment, Staff
from medoa.core.org.services import role_revoke, staff_deactivate, staff_update

pytestmark = pytest.mark.django_db

TTL = 5.0
ME_URL = "/api/v1/me"


class Clock:
    """The cache's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(cache, "_clock", fake)
    return fake


@pytest.fixture
def access_cache(settings: Any, clock: Clock) -> Iterator[None]:
    """The cache switched on (the test profile switches it off), empty before and after."""
    settings.MEDOA_ACCESS_CACHE_SECONDS = TTL
    cache.access_cache_clear()
    yield
    cache.access_cache_clear()


@pytest.fixture
def doctor(person: Callable[..., Staff]) -> Staff:
    return person("doctor", "dept_head", username="doc")


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def role_codes(body: dict[str, Any]) -> list[str]:
    return sorted(r["code"] for r in body["roles"])


# --- the cache itself ----------------------------------------------------------------------------


def test_an_entry_lives_for_the_ttl(access_cache: None, clock: Clock) -> None:
    box: cache.TTLCache[str] = cache.TTLCache("test")
    box.set("k", "v")
    clock.now += TTL - 0.01
    assert box.get("k") == "v"
    clock.now += 0.02
    assert box.get("k") is cache.MISSING
    assert len(box) == 0


def test_a_ttl_of_zero_switches_caching_off(settings: Any) -> None:
    settings.MEDOA_ACCESS_CACHE_SECONDS = 0
    box: cache.TTLCache[str] = cache.TTLCache("test")
    box.set("k", "v")
    assert box.get("k") is cache.MISSING
    assert len(box) == 0


def test_the_least_recently_used_entry_goes_first_at_the_bound(access_cache: None) -> None:
    box: cache.TTLCache[int] = cache.TTLCache("test", max_entries=2)
    box.set("a", 1)
    box.set("b", 2)
    assert box.get("a") == 1  # "b" is now the least recently used
    box.set("c", 3)
    assert (box.get("a"), box.get("b"), box.get("c")) == (1, cache.MISSING, 3)


def test_expired_entries_leave_memory_as_new_ones_arrive(access_cache: None, clock: Clock) -> None:
    box: cache.TTLCache[int] = cache.TTLCache("test")
    box.set("a", 1)
    box.set("b", 2)
    clock.now += TTL + 1
    box.set("c", 3)
    assert len(box) == 1


def test_a_value_read_before_an_invalidation_is_not_stored_after_it(access_cache: None) -> None:
    box: cache.TTLCache[str] = cache.TTLCache("test")
    generation = box.generation()  # a reader starts loading ...
    box.discard("k")  # ... a writer changes the data and invalidates ...
    box.set("k", "old", generation=generation)  # ... the reader's stale answer is dropped
    assert box.get("k") is cache.MISSING
    box.set("k", "new", generation=box.generation())
    assert box.get("k") == "new"


# --- GET /api/v1/me --------------------------------------------------------------------------------


def test_me_makes_no_query_once_the_caches_are_warm(
    access_cache: None, client: Client, doctor: Staff, django_assert_num_queries: Any
) -> None:
    raw, _token = api_token_issue(user=doctor.user)
    cold = client.get(ME_URL, **bearer(raw))
    with django_assert_num_queries(0):
        warm = client.get(ME_URL, **bearer(raw))
    assert warm.status_code == cold.status_code == 200
    assert warm.content == cold.content
    assert warm["Content-Type"] == cold["Content-Type"] == "application/json; charset=utf-8"


def test_me_answers_the_same_with_and_without_the_cache(
    settings: Any, access_cache: None, client: Client, doctor: Staff
) -> None:
    raw, _token = api_token_issue(user=doctor.user)
    client.get(ME_URL, **bearer(raw))
    cached = client.get(ME_URL, **bearer(raw)).json()
    english = client.get(ME_URL, HTTP_COOKIE="medoa_language=en", **bearer(raw)).json()
    settings.MEDOA_ACCESS_CACHE_SECONDS = 0
    assert client.get(ME_URL, **bearer(raw)).json() == cached
    assert client.get(ME_URL, HTTP_COOKIE="medoa_language=en", **bearer(raw)).json() == english
    assert english["department"]["name"] != cached["department"]["name"]


def test_a_revoked_token_is_refused_at_once(access_cache: None, client: Client, doctor: Staff) -> None:
    raw, token = api_token_issue(user=doctor.user)
    assert client.get(ME_URL, **bearer(raw)).status_code == 200
    api_token_revoke(user=doctor.user, token=token)
    assert client.get(ME_URL, **bearer(raw)).status_code == 401


def test_a_cached_token_is_refused_as_soon_as_it_expires(
    access_cache: None, client: Client, doctor: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, token = api_token_issue(user=doctor.user, hours=1)
    assert client.get(ME_URL, **bearer(raw)).status_code == 200
    later = token.expires_at + timedelta(seconds=1)
    monkeypatch.setattr(tokens, "timezone", SimpleNamespace(now=lambda: later))
    assert client.get(ME_URL, **bearer(raw)).status_code == 401


def test_a_role_revoked_in_this_process_is_gone_at_once(
    access_cache: None, client: Client, doctor: Staff, person: Callable[..., Staff]
) -> None:
    admin = person("sec_admin", username="sec")
    raw, _token = api_token_issue(user=doctor.user)
    assert role_codes(client.get(ME_URL, **bearer(raw)).json()) == ["dept_head", "doctor"]
    assignment = RoleAssignment.objects.get(staff=doctor, role__code="dept_head")
    role_revoke(actor=admin.user, assignment=assignment)
    assert role_codes(client.get(ME_URL, **bearer(raw)).json()) == ["doctor"]


def test_a_staff_record_changed_in_this_process_shows_at_once(
    access_cache: None, client: Client, doctor: Staff, person: Callable[..., Staff]
) -> None:
    hr = person("hr", username="hr")
    raw, _token = api_token_issue(user=doctor.user)
    client.get(ME_URL, **bearer(raw))
    staff_update(actor=hr.user, staff=doctor, name="李新名")
    assert client.get(ME_URL, **bearer(raw)).json()["name"] == "李新名"


def test_deactivation_ends_api_access_at_once(
    access_cache: None, client: Client, doctor: Staff, person: Callable[..., Staff]
) -> None:
    hr = person("hr", username="hr")
    raw, _token = api_token_issue(user=doctor.user)
    assert client.get(ME_URL, **bearer(raw)).status_code == 200
    staff_deactivate(actor=hr.user, staff=doctor)
    assert client.get(ME_URL, **bearer(raw)).status_code == 401


def test_a_change_made_elsewhere_shows_within_the_ttl(
    access_cache: None, client: Client, doctor: Staff, clock: Clock
) -> None:
    """Another process's change (here: written behind the services' back) is not seen until the
    cached entries expire: the documented staleness bound."""
    raw, _token = api_token_issue(user=doctor.user)
    assert role_codes(client.get(ME_URL, **bearer(raw)).json()) == ["dept_head", "doctor"]
    RoleAssignment.objects.filter(staff=doctor, role__code="dept_head").delete()
    clock.now += TTL - 0.1
    assert role_codes(client.get(ME_URL, **bearer(raw)).json()) == ["dept_head", "doctor"]
    clock.now += 0.2
    assert role_codes(client.get(ME_URL, **bearer(raw)).json()) == ["doctor"]


# --- principals -----------------------------------------------------------------------------------


def test_a_grant_change_reaches_every_holder_at_once(
    access_cache: None, doctor: Staff, person: Callable[..., Staff]
) -> None:
    admin = person("sec_admin", username="sec")
    other = person("doctor", username="doc2")
    RoleGrant.objects.create(role=Role.objects.get(code="doctor"), permission="org.staff.view", scope="all")
    assert has_perm(User.objects.get(pk=other.user.pk), "org.staff.view")
    role_grants_set(actor=admin.user, role=Role.objects.get(code="doctor"), scopes={"org.staff.view": None})
    assert not has_perm(User.objects.get(pk=other.user.pk), "org.staff.view")
    role_grants_set(
        actor=admin.user, role=Role.objects.get(code="doctor"), scopes={"org.staff.view": DataScope.ALL}
    )
    assert has_perm(User.objects.get(pk=other.user.pk), "org.staff.view")


def test_each_request_gets_its_own_staff_object(access_cache: None, doctor: Staff) -> None:
    first = principal_of(User.objects.get(pk=doctor.user.pk))
    assert first is not None and first.staff is not None
    first.staff.name = "changed by one request"
    first.staff.department.name_zh = "changed too"
    second = principal_of(User.objects.get(pk=doctor.user.pk))
    assert second is not None and second.staff is not None
    assert second.staff is not first.staff
    assert (second.staff.name, second.staff.department.name_zh) == (doctor.name, doctor.department.name_zh)


def test_a_principal_loads_with_three_queries_then_none(
    access_cache: None, doctor: Staff, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(3):
        principal_of(_fresh_user(doctor))
    with django_assert_num_queries(0):
        principal_of(_fresh_user(doctor))


def _fresh_user(staff: Staff) -> User:
    """A user object as a request would have it: without a principal of its own."""
    user = cache.model_copy(staff.user)
    user.__dict__.pop("_medoa_principal", None)
    return user


# --- browser sessions -----------------------------------------------------------------------------


def test_ending_a_users_sessions_signs_out_at_once(access_cache: None, client: Client, doctor: Staff) -> None:
    client.force_login(doctor.user)
    assert client.get("/").status_code == 200
    user_sessions_end(user=doctor.user)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not UserSession.objects.filter(user=doctor.user).exists()


def test_a_live_session_record_deleted_elsewhere_is_noticed_within_the_ttl(
    access_cache: None, client: Client, doctor: Staff, clock: Clock
) -> None:
    client.force_login(doctor.user)
    assert client.get("/").status_code == 200
    UserSession.objects.filter(user=doctor.user).delete()  # behind the services' back
    assert client.get("/").status_code == 200
    clock.now += TTL + 0.1
    response = client.get("/")
    assert response.status_code == 302
    assert "reason=ended" in response["Location"]


def test_an_expired_token_row_is_not_cached_as_live(
    access_cache: None, client: Client, doctor: Staff
) -> None:
    raw, token = api_token_issue(user=doctor.user)
    token.expires_at = timezone.now() - timedelta(seconds=1)
    token.save(update_fields=["expires_at"])
    assert client.get(ME_URL, **bearer(raw)).status_code == 401
    assert len(cache.tokens) == 0
