"""Field encryption (AES-GCM with key ids), blind indexes, and the key commands."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from medoa.core.access.models import User
from medoa.core.audit.models import AuditEntry
from medoa.core.crypto import (
    Ciphertext,
    DecryptionError,
    active_key_id,
    blind_index,
    decrypt,
    encrypt,
    key_id_of,
    reset_key_cache,
)
from medoa.core.org.models import Staff

KEY_A = base64.b64encode(b"A" * 32).decode()
KEY_B = base64.urlsafe_b64encode(bytes(range(200, 232))).decode()  # urlsafe alphabet works too
PHONE = "13812345678"
NATIONAL_ID = "11010519491231002X"
TOTP = "JBSWY3DPEHPK3PXP"


@pytest.fixture
def key_a(settings: Any) -> Any:
    settings.FIELD_ENCRYPTION_KEYS = {"ka": KEY_A}
    settings.FIELD_ENCRYPTION_ACTIVE_KEY = "ka"
    reset_key_cache()
    yield settings
    reset_key_cache()


def raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        (value,) = cursor.fetchone()
    return str(value)


# --- encrypt / decrypt ----------------------------------------------------------------------------


def test_round_trip(key_a: Any) -> None:
    stored = encrypt("心血管内科 13812345678", context="org.staff.phone")

    assert stored.startswith("enc1:ka:")
    assert decrypt(stored, context="org.staff.phone") == "心血管内科 13812345678"


def test_ciphertext_differs_every_time(key_a: Any) -> None:
    assert encrypt(PHONE, context="c") != encrypt(PHONE, context="c")


def test_the_wrong_column_context_fails(key_a: Any) -> None:
    stored = encrypt(PHONE, context="org.staff.phone")

    with pytest.raises(DecryptionError, match="does not decrypt"):
        decrypt(stored, context="org.staff.national_id")


def test_an_unknown_key_id_fails(key_a: Any) -> None:
    stored = encrypt(PHONE, context="c").replace("enc1:ka:", "enc1:zz:")

    with pytest.raises(DecryptionError, match="unknown field key id 'zz'"):
        decrypt(stored, context="c")


def test_a_tampered_or_malformed_value_fails(key_a: Any) -> None:
    stored = encrypt(PHONE, context="c")
    flipped = stored[:-3] + ("A" if stored[-3] != "A" else "B") + stored[-2:]

    for bad in (flipped, "enc1:ka:", "enc1:ka:!!!", "plain text", "enc2:ka:abc"):
        with pytest.raises(DecryptionError):
            decrypt(bad, context="c")


def test_key_id_of() -> None:
    assert key_id_of("enc1:k2:abc") == "k2"
    assert key_id_of("13812345678") is None
    assert key_id_of("enc1::abc") is None


@pytest.mark.parametrize(
    ("keys", "active", "message"),
    [
        ({}, "", "needs MEDOA_FIELD_KEYS"),
        ({"ka": KEY_A}, "kb", "not among MEDOA_FIELD_KEYS"),
        ({"ka": "not base64!"}, "ka", "not valid base64"),
        ({"ka": base64.b64encode(b"short").decode()}, "ka", "must be 32 bytes, not 5"),
        ({"k:a": KEY_A}, "k:a", "must be 1–32 characters"),
    ],
)
def test_bad_key_settings_are_refused(settings: Any, keys: Any, active: str, message: str) -> None:
    settings.FIELD_ENCRYPTION_KEYS = keys
    settings.FIELD_ENCRYPTION_ACTIVE_KEY = active
    reset_key_cache()

    with pytest.raises(ImproperlyConfigured, match=message):
        encrypt("x", context="c")
    reset_key_cache()


# --- the model field ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_raw_column_never_holds_the_plaintext(key_a: Any, staff_factory: Any) -> None:
    # when
    staff = staff_factory(phone=PHONE, national_id=NATIONAL_ID)

    # then
    raw_phone = raw_column("org_staff", "phone", staff.pk)
    raw_id = raw_column("org_staff", "national_id", staff.pk)
    assert raw_phone.startswith("enc1:ka:") and PHONE not in raw_phone
    assert raw_id.startswith("enc1:ka:") and NATIONAL_ID not in raw_id
    reloaded = Staff.objects.get(pk=staff.pk)
    assert (reloaded.phone, reloaded.national_id) == (PHONE, NATIONAL_ID)


@pytest.mark.django_db
def test_a_value_copied_into_another_column_does_not_decrypt(key_a: Any, staff_factory: Any) -> None:
    # given
    staff = staff_factory(phone=PHONE)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE org_staff SET national_id = phone WHERE id = %s", [staff.pk])

    # then
    with pytest.raises(DecryptionError):
        Staff.objects.get(pk=staff.pk)


@pytest.mark.django_db
def test_text_that_looks_encrypted_is_still_encrypted(key_a: Any, staff_factory: Any) -> None:
    # when: someone types an "enc1:" value into a form
    staff = staff_factory(phone="enc1:ka:AAAA")

    # then: it is sealed like any text, not stored as given
    assert raw_column("org_staff", "phone", staff.pk) != "enc1:ka:AAAA"
    assert Staff.objects.get(pk=staff.pk).phone == "enc1:ka:AAAA"


@pytest.mark.django_db
def test_ciphertext_made_on_purpose_is_stored_as_is(key_a: Any, staff_factory: Any) -> None:
    # given
    staff = staff_factory()
    sealed = encrypt(PHONE, context="org.staff.phone")

    # when
    Staff.objects.filter(pk=staff.pk).update(phone=Ciphertext(sealed))

    # then
    assert raw_column("org_staff", "phone", staff.pk) == sealed
    assert Staff.objects.get(pk=staff.pk).phone == PHONE


@pytest.mark.django_db
def test_blank_stays_blank(key_a: Any, staff_factory: Any) -> None:
    staff = staff_factory(phone="")

    assert raw_column("org_staff", "phone", staff.pk) == ""
    assert Staff.objects.get(pk=staff.pk).phone == ""


@pytest.mark.django_db
def test_equality_lookups_on_ciphertext_are_refused(key_a: Any) -> None:
    with pytest.raises(FieldError):
        list(Staff.objects.filter(phone=PHONE))
    assert list(Staff.objects.filter(phone__isnull=True)) == []


# --- blind index ----------------------------------------------------------------------------------


def test_blind_index_normalises_spaces_case_and_full_width() -> None:
    expected = blind_index("org.staff.national_id", NATIONAL_ID)

    assert blind_index("org.staff.national_id", " 110105 19491231 002x ") == expected
    assert blind_index("org.staff.national_id", "１１０１０５１９４９１２３１００２ｘ") == expected
    assert len(expected) == 64


def test_blind_index_separates_purposes_and_values() -> None:
    assert blind_index("org.staff.phone", PHONE) != blind_index("org.staff.national_id", PHONE)
    assert blind_index("org.staff.phone", PHONE) != blind_index("org.staff.phone", "13812345679")


def test_blind_index_of_blank_is_blank() -> None:
    assert blind_index("p", "") == ""
    assert blind_index("p", None) == ""
    assert blind_index("p", "   ") == ""


def test_blind_index_depends_on_its_key(settings: Any) -> None:
    before = blind_index("p", PHONE)
    settings.BLIND_INDEX_KEY = KEY_A  # the setting_changed signal resets the cache

    assert blind_index("p", PHONE) != before


@pytest.mark.django_db
def test_equality_search_through_the_blind_index(key_a: Any, staff_factory: Any) -> None:
    # given
    wanted = staff_factory(
        national_id=NATIONAL_ID, national_id_index=blind_index("org.staff.national_id", NATIONAL_ID)
    )
    staff_factory(
        national_id="110105194912310038",
        national_id_index=blind_index("org.staff.national_id", "110105194912310038"),
    )

    # when
    found = Staff.objects.filter(
        national_id_index=blind_index("org.staff.national_id", "11010519491231002x ")
    )

    # then
    assert list(found) == [wanted]


# --- rotate_field_keys ----------------------------------------------------------------------------


def rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_field_keys", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_rotation_from_key_a_to_key_b(key_a: Any, staff_factory: Any, user_factory: Any) -> None:
    # given: values written under key A
    staff = staff_factory(phone=PHONE, national_id=NATIONAL_ID)
    user = user_factory(totp_secret=TOTP)
    blank = staff_factory(phone="")
    assert raw_column("org_staff", "phone", staff.pk).startswith("enc1:ka:")

    # when: B becomes the active key and the command runs
    key_a.FIELD_ENCRYPTION_KEYS = {"ka": KEY_A, "kb": KEY_B}
    key_a.FIELD_ENCRYPTION_ACTIVE_KEY = "kb"
    reset_key_cache()
    output = rotate("--batch-size", "1")

    # then: every value is under B and still reads back, even once A is gone
    assert "org.staff.phone: 1 re-encrypted, 0 already current, 0 left as plain text, 0 failed" in output
    assert "org.staff.national_id: 1 re-encrypted, 0 already current" in output
    assert "access.user.totp_secret: 1 re-encrypted, 0 already current" in output
    assert raw_column("org_staff", "phone", staff.pk).startswith("enc1:kb:")
    assert raw_column("org_staff", "national_id", staff.pk).startswith("enc1:kb:")
    assert raw_column("access_user", "totp_secret", user.pk).startswith("enc1:kb:")
    assert raw_column("org_staff", "phone", blank.pk) == ""
    key_a.FIELD_ENCRYPTION_KEYS = {"kb": KEY_B}
    reset_key_cache()
    reloaded = Staff.objects.get(pk=staff.pk)
    assert (reloaded.phone, reloaded.national_id) == (PHONE, NATIONAL_ID)
    assert User.objects.get(pk=user.pk).totp_secret == TOTP
    assert active_key_id() == "kb"

    # and: one audit entry with the counts
    entry = AuditEntry.objects.get(action="crypto.field_keys.rotated")
    assert entry.actor_name == "manage rotate_field_keys"
    assert entry.details["active_key"] == "kb"
    assert entry.details["fields"]["org.staff.phone"] == {
        "rotated": 1,
        "current": 0,
        "plaintext": 0,
        "failed": 0,
    }
    assert entry.details["total"]["rotated"] == 3


@pytest.mark.django_db
def test_rotation_is_idempotent(key_a: Any, staff_factory: Any) -> None:
    # given
    staff_factory(phone=PHONE, national_id=NATIONAL_ID)
    key_a.FIELD_ENCRYPTION_KEYS = {"ka": KEY_A, "kb": KEY_B}
    key_a.FIELD_ENCRYPTION_ACTIVE_KEY = "kb"
    reset_key_cache()
    rotate()

    # when
    output = rotate()

    # then
    assert "org.staff.phone: 0 re-encrypted, 1 already current" in output
    assert "re-encrypted 0 values under key kb" in output
    assert AuditEntry.objects.filter(action="crypto.field_keys.rotated").count() == 2


@pytest.mark.django_db
def test_dry_run_changes_nothing(key_a: Any, staff_factory: Any) -> None:
    # given
    staff = staff_factory(phone=PHONE)
    before = raw_column("org_staff", "phone", staff.pk)
    key_a.FIELD_ENCRYPTION_KEYS = {"ka": KEY_A, "kb": KEY_B}
    key_a.FIELD_ENCRYPTION_ACTIVE_KEY = "kb"
    reset_key_cache()

    # when
    output = rotate("--dry-run")

    # then
    assert "org.staff.phone: 1 re-encrypted" in output
    assert "would re-encrypt" in output
    assert raw_column("org_staff", "phone", staff.pk) == before
    assert not AuditEntry.objects.filter(action="crypto.field_keys.rotated").exists()


@pytest.mark.django_db
def test_values_that_do_not_decrypt_are_left_alone_and_reported(key_a: Any, staff_factory: Any) -> None:
    # given: one value under a key that is no longer configured, one plain text value
    lost = staff_factory()
    plain = staff_factory()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE org_staff SET phone = 'enc1:gone:AAAA' WHERE id = %s", [lost.pk])
        cursor.execute("UPDATE org_staff SET phone = %s WHERE id = %s", [PHONE, plain.pk])

    # when
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 values did not decrypt"):
        call_command("rotate_field_keys", stdout=out)

    # then
    assert (
        "org.staff.phone: 0 re-encrypted, 0 already current, 1 left as plain text, 1 failed" in out.getvalue()
    )
    assert raw_column("org_staff", "phone", lost.pk) == "enc1:gone:AAAA"
    assert AuditEntry.objects.get(action="crypto.field_keys.rotated").outcome == "failure"


@pytest.mark.django_db
def test_plain_text_is_encrypted_on_request(key_a: Any, staff_factory: Any) -> None:
    # given: a column that held plain text before it became encrypted
    staff = staff_factory()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE org_staff SET phone = %s WHERE id = %s", [PHONE, staff.pk])

    # when
    output = rotate("--encrypt-plaintext")

    # then
    assert "org.staff.phone: 1 re-encrypted" in output
    assert raw_column("org_staff", "phone", staff.pk).startswith("enc1:ka:")
    assert Staff.objects.get(pk=staff.pk).phone == PHONE


def test_bad_batch_size_is_refused() -> None:
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        rotate("--batch-size", "0")


# --- generate_field_key ---------------------------------------------------------------------------


def test_generate_field_key_prints_a_usable_pair(settings: Any) -> None:
    # when
    out = io.StringIO()
    call_command("generate_field_key", "--kid", "k2027", stdout=out)

    # then
    kid, _, key = out.getvalue().strip().partition(":")
    assert kid == "k2027"
    assert len(base64.b64decode(key)) == 32
    settings.FIELD_ENCRYPTION_KEYS = {kid: key}
    settings.FIELD_ENCRYPTION_ACTIVE_KEY = kid
    assert decrypt(encrypt("x", context="c"), context="c") == "x"


def test_generate_field_key_makes_a_fresh_key_and_id_each_time() -> None:
    first, second = io.StringIO(), io.StringIO()
    call_command("generate_field_key", stdout=first)
    call_command("generate_field_key", stdout=second)

    assert first.getvalue() != second.getvalue()
    assert first.getvalue().startswith("k")


def test_generate_field_key_refuses_a_bad_key_id() -> None:
    with pytest.raises(CommandError, match="--kid must be"):
        call_command("generate_field_key", "--kid", "a:b")
