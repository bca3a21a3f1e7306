"""Password policy profiles chosen by MEDOA_PASSWORD_POLICY.

* ``asvs`` (default, OWASP ASVS 2.1): 12 to 128 characters, not one repeated character, not a
  common password (our short list and Django's list of about 20 000), not containing the username.
* ``dengbao`` (等保 2.0): at least 8 characters from at least 3 of 4 classes (upper case, lower
  case, digits, symbols), not containing the username, not a common password, changed at least
  every 90 days (``password_expired``; the session guard sends the user to the change page).

The validators run whenever a password is set through a form or ``password_change``; signing in
never re-validates a stored password.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

ASVS = "asvs"
DENGBAO = "dengbao"
ASVS_MIN_LENGTH = 12
DENGBAO_MIN_LENGTH = 8
MAX_LENGTH = 128
DENGBAO_MIN_CLASSES = 3
DENGBAO_MAX_AGE = timedelta(days=90)
MIN_USERNAME_MATCH = 3
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt"


def policy_profile() -> str:
    return str(getattr(settings, "MEDOA_PASSWORD_POLICY", ASVS) or ASVS)


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@lru_cache(maxsize=1)
def _django_common() -> CommonPasswordValidator:
    return CommonPasswordValidator()


def character_classes(password: str) -> int:
    """How many of the four classes (upper, lower, digit, symbol) ``password`` uses."""
    has_upper = any(c.isupper() for c in password)
    has_lower = any(c.islower() for c in password)
    has_digit = any(c.isdigit() for c in password)
    has_symbol = any(not c.isalnum() for c in password)
    return sum((has_upper, has_lower, has_digit, has_symbol))


def password_expired(user: Any) -> bool:
    """Must ``user`` change their password before doing anything else?"""
    if getattr(user, "must_change_password", False):
        return True
    if policy_profile() != DENGBAO:
        return False
    changed = getattr(user, "password_changed_at", None)
    return changed is None or timezone.now() - changed > DENGBAO_MAX_AGE


class PolicyValidator:
    """The AUTH_PASSWORD_VALIDATORS entry: applies the active profile."""

    def validate(self, password: str, user: Any = None) -> None:
        errors: list[ValidationError] = []
        profile = policy_profile()
        if len(password) > MAX_LENGTH:
            errors.append(
                ValidationError(
                    _("The password must have at most %(max)d characters."),
                    code="password_too_long",
                    params={"max": MAX_LENGTH},
                )
            )
        if profile == DENGBAO:
            if len(password) < DENGBAO_MIN_LENGTH:
                errors.append(
                    ValidationError(
                        _("The password must have at least %(min)d characters."),
                        code="password_too_short",
                        params={"min": DENGBAO_MIN_LENGTH},
                    )
                )
            if character_classes(password) < DENGBAO_MIN_CLASSES:
                errors.append(
                    ValidationError(
                        _(
                            "The password must mix at least 3 of: upper-case letters, lower-case "
                            "letters, digits and symbols."
                        ),
                        code="password_too_simple",
                    )
                )
        else:
            if len(password) < ASVS_MIN_LENGTH:
                errors.append(
                    ValidationError(
                        _("The password must have at least %(min)d characters."),
                        code="password_too_short",
                        params={"min": ASVS_MIN_LENGTH},
                    )
                )
            if password and len(set(password)) == 1:
                errors.append(
                    ValidationError(
                        _("The password must not repeat a single character."),
                        code="password_repeated",
                    )
                )
        if self._is_common(password, profile):
            errors.append(ValidationError(_("This password is too common."), code="password_too_common"))
        username = str(getattr(user, "username", "") or "").strip().casefold()
        if len(username) >= MIN_USERNAME_MATCH and username in password.casefold():
            errors.append(
                ValidationError(
                    _("The password must not contain the username."), code="password_contains_username"
                )
            )
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def _is_common(password: str, profile: str) -> bool:
        lowered = password.strip().lower()
        if lowered in _common_passwords():
            return True
        if profile == ASVS:
            try:
                _django_common().validate(password)
            except ValidationError:
                return True
        return False

    def get_help_text(self) -> str:
        if policy_profile() == DENGBAO:
            return _(
                "At least 8 characters mixing at least 3 of: upper-case letters, lower-case letters, "
                "digits and symbols; not containing your username; changed every 90 days."
            )
        return _(
            "12 to 128 characters; not a common password, not one repeated character, not "
            "containing your username. A passphrase of several words is easy to remember."
        )
