"""System API keys: creation (shown once, stored hashed), scopes, authentication, revocation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import RequestFactory, override_settings
from django.utils import timezone
from ninja.errors import HttpError

from medoa.core.access import cache, system_keys
from medoa.core.access.api_auth import BearerAuth, SystemKeyAuth, require_scope
from medoa.core.access.models import SystemApiKey
from medoa.core.access.system_keys import (
    CLINICAL_SCOPES,
    SystemKeyError,
    authenticate_system_key,
    create_system_key,
    hash_key,
    key_allows,
    revoke_system_key,
    system_key_from_request,
    update_system_key_scopes,
)
from medoa.core.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def it_user(person: Any) -> Any:
    return person("it", username="it1").user


def test_a_new_key_is_shown_once_and_stored_hashed(it_user: Any) -> None:
    # When
    key, raw = create_system_key(actor=it_user, name="HIS", system="东软 HIS", scopes=["hl7:adt", "hl7:oru"])
    # Then
    assert raw.startswith(key.prefix + "_")
    assert key.prefix.startswith("msk_") and len(key.prefix) == 12
    assert key.key_hash == hash_key(raw)
    stored = SystemApiKey.objects.get()
    assert raw not in {stored.key_hash, stored.prefix}
    assert stored.scopes == ["hl7:adt", "hl7:oru"]
    assert stored.created_by == it_user
    entry = AuditEntry.objects.get(action="access.system_key.created")
    assert entry.actor == it_user
    assert entry.details == {"name": "HIS", "system": "东软 HIS", "scopes": ["hl7:adt", "hl7:oru"]}


def test_two_keys_never_share_a_secret(it_user: Any) -> None:
    _k1, raw1 = create_system_key(actor=it_user, name="a", scopes=["hl7:adt"])
    _k2, raw2 = create_system_key(actor=it_user, name="b", scopes=["hl7:adt"])
    assert raw1 != raw2


@pytest.mark.parametrize(
    ("name", "scopes", "field"),
    [
        ("", ["hl7:adt"], "name"),
        ("x" * 101, ["hl7:adt"], "name"),
        ("HIS", [], "scopes"),
        ("HIS", ["  "], "scopes"),
        ("HIS", ["hl7"], "scopes"),
        ("HIS", ["HL7:adt"], "scopes"),
        ("HIS", ["hl7:adt; drop"], "scopes"),
        ("HIS", ["*"], "scopes"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    it_user: Any, name: str, scopes: list[str], field: str
) -> None:
    with pytest.raises(SystemKeyError) as info:
        create_system_key(actor=it_user, name=name, scopes=scopes)
    assert info.value.field == field
    assert SystemApiKey.objects.count() == 0
    assert not AuditEntry.objects.filter(action="access.system_key.created").exists()


def test_scopes_are_cleaned_of_blanks_and_repeats(it_user: Any) -> None:
    key, _raw = create_system_key(actor=it_user, name="HIS", scopes=[" hl7:adt ", "", "hl7:adt", "fhir:*"])
    assert key.scopes == ["hl7:adt", "fhir:*"]


def test_key_allows_exact_scopes_and_patterns(it_user: Any) -> None:
    key, _raw = create_system_key(
        actor=it_user, name="HIS", scopes=["hl7:adt", "fhir:*", "events:publish:hr.*"]
    )
    assert key_allows(key, "hl7:adt")
    assert not key_allows(key, "hl7:oru")
    assert key_allows(key, "fhir:Observation")
    assert key_allows(key, "events:publish:hr.employee.hired")
    assert not key_allows(key, "events:publish:clinical.patient.admitted")
    assert not key_allows(key, "HL7:ADT")


def test_the_raw_key_authenticates_and_records_when_and_from_where(it_user: Any) -> None:
    # Given
    key, raw = create_system_key(actor=it_user, name="HIS", scopes=list(CLINICAL_SCOPES))
    # When
    found = authenticate_system_key(raw, address="10.1.2.3")
    # Then
    assert found is not None and found.pk == key.pk
    key.refresh_from_db()
    assert key.last_used_address == "10.1.2.3"
    assert key.last_used_at is not None


def test_last_use_is_written_at_most_once_a_minute(it_user: Any, django_assert_num_queries: Any) -> None:
    key, raw = create_system_key(actor=it_user, name="HIS", scopes=["hl7:adt"])
    authenticate_system_key(raw, address="10.0.0.1")
    with django_assert_num_queries(1):  # the lookup only (the cache is off in tests)
        assert authenticate_system_key(raw, address="10.0.0.2") is not None
    key.refresh_from_db()
    assert key.last_used_address == "10.0.0.1"
    SystemApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(seconds=61))
    authenticate_system_key(raw, address="10.0.0.2")
    key.refresh_from_db()
    assert key.last_used_address == "10.0.0.2"


@pytest.mark.parametrize(
    "raw",
    ["", "msk_", "moa_abc", "msk_00000000_" + "a" * 43, "x" * 500, "msk_zzzzzzzz_" + "a" * 43],
)
def test_unknown_or_malformed_keys_are_refused(it_user: Any, raw: str) -> None:
    create_system_key(actor=it_user, name="HIS", scopes=["hl7:adt"])
    assert authenticate_system_key(raw) is None


def test_a_revoked_key_is_refused_and_the_revocation_audited(it_user: Any) -> None:
    # Given
    key, raw = create_system_key(actor=it_user, name="HIS", scopes=["hl7:adt"])
    # When
    revoke_system_key(actor=it_user, key=key)
    # Then
    assert authenticate_system_key(raw) is None
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == it_user
    assert AuditEntry.objects.filter(action="access.system_key.revoked", actor=it_user).count() == 1
    assert not key_allows(key, "hl7:adt")
    # Revoking again changes nothing and writes no second entry.
    revoke_system_key(actor=it_user, key=key)
    assert AuditEntry.objects.filter(action="access.system_key.revoked").count() == 1


@override_settings(MEDOA_ACCESS_CACHE_SECONDS=60)
def test_with_the_cache_on_a_revocation_takes_effect_within_seconds(
    it_user: Any, monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    # Given a key whose lookup is cached in this process
    key, raw = create_system_key(actor=it_user, name="HIS", scopes=["hl7:adt"])
    assert authenticate_system_key(raw) is not None
    with django_assert_num_queries(0):
        assert authenticate_system_key(raw) is not None
    # When another process revokes it (no in-process invalidation)
    SystemApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    start = cache._clock()
    monkeypatch.setattr(cache, "_clock", lambda: start + system_keys.REVOCATION_DELAY_SECONDS + 0.01)
    # Then it is refused once the cached lookup is older than the bound (5 s at most)
    assert system_keys.REVOCATION_DELAY_SECONDS <= 5
    assert authenticate_system_key(raw) is None


@override_settings(MEDOA_ACCESS_CACHE_SECONDS=60)
def test_with_the_cache_on_a_revocation_in_this_process_takes_effect_at_once(it_user: Any) -> None:
    key, raw = create_system_key(actor=it_user, name="HIS", scopes=["hl7:adt"])
    assert authenticate_system_key(raw) is not None
    revoke_system_key(actor=it_user, key=key)
    assert authenticate_system_key(raw) is None


def test_scopes_can_be_changed_and_the_change_is_audited(it_user: Any) -> None:
    key, raw = create_system_key(actor=it_user, name="HIS", scopes=["hl7:adt"])
    update_system_key_scopes(actor=it_user, key=key, scopes=["hl7:oru"])
    found = authenticate_system_key(raw)
    assert found is not None and found.scopes == ["hl7:oru"]
    assert AuditEntry.objects.get(action="access.system_key.scopes_changed").details == {
        "before": ["hl7:adt"],
        "after": ["hl7:oru"],
    }


@pytest.mark.parametrize("header", ["HTTP_AUTHORIZATION", "HTTP_X_API_KEY"])
def test_the_key_is_read_from_the_authorization_or_x_api_key_header(it_user: Any, header: str) -> None:
    key, raw = create_system_key(actor=it_user, name="HIS", scopes=["fhir:*"])
    value = f"Bearer {raw}" if header == "HTTP_AUTHORIZATION" else raw
    request = RequestFactory().post("/fhir/r4/Observation", **{header: value}, REMOTE_ADDR="10.9.9.9")
    found = system_key_from_request(request)
    assert found is not None and found.pk == key.pk
    assert request.system_key.pk == key.pk  # type: ignore[attr-defined]
    key.refresh_from_db()
    assert key.last_used_address == "10.9.9.9"


def test_ninja_auth_sets_the_system_key_and_not_the_user(it_user: Any) -> None:
    key, raw = create_system_key(actor=it_user, name="HIS", scopes=["hl7:adt"])
    request = RequestFactory().post("/api/v1/integration/hl7", HTTP_AUTHORIZATION=f"Bearer {raw}")
    # A person's bearer auth does not take a system key …
    assert BearerAuth()(request) is None
    # … the system key auth does.
    found = SystemKeyAuth()(request)
    assert found is not None and found.pk == key.pk
    assert request.system_key.pk == key.pk  # type: ignore[attr-defined]
    assert not hasattr(request, "user")
    assert require_scope(request, "hl7:adt").pk == key.pk


def test_require_scope_answers_403_naming_the_scope_and_401_without_a_key(it_user: Any) -> None:
    _key, raw = create_system_key(actor=it_user, name="HIS", scopes=["hl7:adt"])
    request = RequestFactory().post("/", HTTP_X_API_KEY=raw)
    SystemKeyAuth()(request)
    with pytest.raises(HttpError) as info:
        require_scope(request, "hl7:oru")
    assert info.value.status_code == 403
    assert info.value.extra["detail_en"] == "This API key may not send hl7:oru."  # type: ignore[attr-defined]
    assert "hl7:oru" in info.value.extra["detail"]  # type: ignore[attr-defined]
    with pytest.raises(HttpError) as info:
        require_scope(RequestFactory().post("/"), "hl7:adt")
    assert info.value.status_code == 401


def test_the_first_known_address_is_recorded_at_once_and_never_erased(it_user: Any) -> None:
    key, raw = create_system_key(actor=it_user, name="HIS", scopes=["hl7:adt"])
    authenticate_system_key(raw)  # no address (e.g. a check from the command line)
    authenticate_system_key(raw, address="10.0.0.7")
    key.refresh_from_db()
    assert key.last_used_address == "10.0.0.7"
    SystemApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(seconds=61))
    authenticate_system_key(raw)
    key.refresh_from_db()
    assert key.last_used_address == "10.0.0.7"
