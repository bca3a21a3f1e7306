"""Password profiles: asvs (default) and dengbao (等保); the change date on every set."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.password_validation import password_validators_help_texts, validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from medoa.core.access.models import User
from medoa.core.access.passwords import character_classes, password_expired

from .helpers import login


def codes(password: str, username: str = "zhangwei") -> list[str]:
    try:
        validate_password(password, User(username=username))
    except ValidationError as exc:
        return sorted(str(e.code) for e in exc.error_list)
    return []


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("correct horse battery staple", []),
        ("Ward7-night-shift!", []),
        ("short-pw", ["password_too_short"]),
        ("aaaaaaaaaaaaaa", ["password_repeated"]),
        ("qwertyuiop123", ["password_too_common"]),
        ("1qaz2wsx3edc", ["password_too_common"]),
        ("zhangwei-loves-surgery", ["password_contains_username"]),
        ("x" * 116 + "-Y7" * 4, []),
        ("Ab1!" * 33, ["password_too_long"]),
    ],
)
def test_asvs_profile(password: str, expected: list[str]) -> None:
    assert codes(password) == expected


def test_the_published_demo_password_cannot_be_chosen() -> None:
    assert codes("Medoa@2026") == ["password_too_common", "password_too_short"]


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("Ward7@night", []),
        ("Ward7night", []),
        ("Medoa@2026", ["password_too_common"]),
        ("ward7night", ["password_too_simple"]),
        ("wardnight!", ["password_too_simple"]),
        ("Ab1!xyz", ["password_too_short"]),
        ("P@ssw0rd", ["password_too_common"]),
        ("Zhangwei@2026", ["password_contains_username"]),
    ],
)
def test_dengbao_profile(password: str, expected: list[str], settings: Any) -> None:
    settings.MEDOA_PASSWORD_POLICY = "dengbao"
    assert codes(password) == expected


@pytest.mark.parametrize(
    ("password", "classes"), [("abc", 1), ("abcD", 2), ("abcD1", 3), ("abcD1!", 4), ("密码Ab1", 3)]
)
def test_character_classes(password: str, classes: int) -> None:
    assert character_classes(password) == classes


def test_help_text_follows_the_profile(settings: Any) -> None:
    settings.MEDOA_PASSWORD_POLICY = "dengbao"
    assert "90" in password_validators_help_texts()[0]
    settings.MEDOA_PASSWORD_POLICY = "asvs"
    assert "128" in password_validators_help_texts()[0]


@pytest.mark.django_db
def test_every_set_password_stamps_the_change_date(user_factory: Any) -> None:
    # Given
    user = user_factory(username="doc")
    user.password_changed_at = timezone.now() - timedelta(days=200)
    # When
    user.set_password("another long passphrase")
    # Then
    assert timezone.now() - user.password_changed_at < timedelta(seconds=5)


@pytest.mark.django_db
def test_a_hash_upgrade_at_sign_in_is_not_a_password_change(user_factory: Any, settings: Any) -> None:
    # Given a password hashed with an older hasher
    long_ago = timezone.now() - timedelta(days=30)
    user = user_factory(username="doc")
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    User.objects.filter(pk=user.pk).update(password_changed_at=long_ago)
    user.refresh_from_db()
    assert user.password.startswith("md5$")
    # When the password is checked (and rehashed)
    assert user.check_password("Medoa@2026-test")
    # Then
    user.refresh_from_db()
    assert user.password.startswith("pbkdf2_sha256$")
    assert user.password_changed_at == long_ago


@pytest.mark.django_db
def test_the_demo_password_still_signs_in_under_asvs(person: Any) -> None:
    # Given a user whose password was set directly (as the demo loader does)
    staff = person("doctor", username="card_doc1")
    staff.user.set_password("Medoa@2026")
    staff.user.save()
    client = Client()
    # When
    response = login(client, "card_doc1", "Medoa@2026")
    # Then
    assert response.status_code == 302
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_password_expiry_rules(user_factory: Any, settings: Any) -> None:
    user = user_factory(username="doc")
    user.password_changed_at = None
    assert password_expired(user) is False
    settings.MEDOA_PASSWORD_POLICY = "dengbao"
    assert password_expired(user) is True
    user.password_changed_at = timezone.now()
    assert password_expired(user) is False
    user.must_change_password = True
    assert password_expired(user) is True
