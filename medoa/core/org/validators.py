"""Format checks and normalisation for organisation data, shared by services, forms, import and API.

Each ``normalise_*`` function returns the canonical form of a value or raises
``django.core.exceptions.ValidationError`` with a message that says what is wrong (English msgid,
translated through the app's catalog).
"""

from __future__ import annotations

import datetime
import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from .choices import Title

# Blind-index purposes of the encrypted staff columns (medoa.core.crypto.blind_index).
PHONE_INDEX = "org.staff.phone"
NATIONAL_ID_INDEX = "org.staff.national_id"

# Weights and check characters of GB 11643-1999 (the 18-character resident identity number).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^[1-9]\d{16}[\dX]$")
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
_OFFICE_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-]{1,30}$")
EMPLOYEE_NO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
DEPARTMENT_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,149}$")
PROCESS_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,99}$")

NURSING_TITLES = frozenset(
    {
        Title.CHIEF_NURSE,
        Title.ASSOC_CHIEF_NURSE,
        Title.SUPERVISOR_NURSE,
        Title.NURSE_PRACTITIONER,
        Title.NURSE,
    }
)


def national_id_checksum(first17: str) -> str:
    """The check character (``0``–``9`` or ``X``) of the first 17 digits of a national ID."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def normalise_national_id(value: str) -> str:
    """An 18-character national ID: 17 digits and a check digit (``X`` allowed, any case).

    Spaces are removed and ``x`` upper-cased; the birth date must be a real date and the check
    character must match. ``""`` stays ``""``.
    """
    text = "".join(value.split()).upper()
    if not text:
        return ""
    if not _ID_RE.match(text):
        raise ValidationError(
            _("A national ID has 18 characters: 17 digits and a final digit or X."),
            code="national_id_format",
        )
    try:
        birth = datetime.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise ValidationError(
            _("The birth date inside the national ID is not a real date."), code="national_id_birth"
        ) from None
    if birth.year < 1900 or birth > datetime.date.today():
        raise ValidationError(
            _("The birth date inside the national ID is not a real date."), code="national_id_birth"
        )
    if national_id_checksum(text[:17]) != text[17]:
        raise ValidationError(
            _("The national ID's check digit does not match: please check the number."),
            code="national_id_checksum",
        )
    return text


def normalise_mobile(value: str) -> str:
    """A mainland mobile number: 11 digits starting 13–19; spaces, dashes and +86 are removed."""
    text = re.sub(r"[\s-]", "", value)
    if not text:
        return ""
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    if not _MOBILE_RE.match(text):
        raise ValidationError(
            _("A mobile phone number has 11 digits and starts with 13–19."), code="phone_format"
        )
    return text


def normalise_office_phone(value: str) -> str:
    """An office phone or extension: digits with optional +, spaces, dashes and brackets."""
    text = value.strip()
    if not text:
        return ""
    if not _OFFICE_PHONE_RE.match(text) or sum(c.isdigit() for c in text) < 3:
        raise ValidationError(
            _("An office phone number has at least 3 digits and only digits, spaces, +, - and brackets."),
            code="office_phone_format",
        )
    return text


def normalise_email(value: str) -> str:
    text = value.strip()
    if not text:
        return ""
    if len(text) > 254:
        raise ValidationError(_("The email address is too long."), code="email_length")
    try:
        validate_email(text)
    except ValidationError:
        raise ValidationError(_("Enter a valid email address."), code="email_format") from None
    return text


def normalise_employee_no(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValidationError(_("The employee number is required."), code="required")
    if not EMPLOYEE_NO_RE.match(text):
        raise ValidationError(
            _("An employee number has at most 32 letters, digits, - or _ and starts with a letter or digit."),
            code="employee_no_format",
        )
    return text


def normalise_username(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValidationError(_("The username is required."), code="required")
    if not USERNAME_RE.match(text):
        raise ValidationError(
            _("A username has at most 150 letters, digits or . _ @ + - and starts with a letter or digit."),
            code="username_format",
        )
    return text


def normalise_department_code(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValidationError(_("The department code is required."), code="required")
    if not DEPARTMENT_CODE_RE.match(text):
        raise ValidationError(
            _("A department code has at most 32 letters, digits, '.', '-' or '_'."),
            code="department_code_format",
        )
    return text


def normalise_process_keys(values: list[str] | tuple[str, ...]) -> list[str]:
    """Process definition keys (lower-case, at most 100 characters each, at most 50 keys)."""
    keys: list[str] = []
    for raw in values:
        key = str(raw).strip()
        if not key:
            continue
        if not PROCESS_KEY_RE.match(key):
            raise ValidationError(
                _("'%(key)s' is not a process key: use lower-case letters, digits, '.', ':', '-' or '_'."),
                code="process_key_format",
                params={"key": key[:100]},
            )
        if key not in keys:
            keys.append(key)
    if len(keys) > 50:
        raise ValidationError(_("A delegation may name at most 50 process types."), code="process_keys_max")
    return keys
