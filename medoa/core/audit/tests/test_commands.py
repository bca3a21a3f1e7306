"""``medoa manage audit_verify``: the intact chain, and the tampering it must notice.

The database triggers refuse UPDATE and DELETE on the audit table (see test_guard.py). To test what
``audit_verify`` sees after tampering, each test first plays an attacker who owns the tables (on
PostgreSQL) or has the SQLite file: they drop the triggers (``guard.uninstall``), then edit.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from medoa.core.audit import guard
from medoa.core.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def verify() -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("audit_verify", stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def execute(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)


def test_an_intact_chain_is_ok(append: Any) -> None:
    # given
    append(5)

    # when / then
    assert verify() == (0, "ok 5 entries\n")


def test_an_empty_log_is_ok() -> None:
    assert verify() == (0, "ok 0 entries\n")


def test_details_edited_with_raw_sql_are_refused_then_detected(append: Any) -> None:
    # given
    append(4)
    edit = """UPDATE audit_auditentry SET details = '{"n": 99}' WHERE seq = 2"""

    # when: through the application's database account, the trigger refuses the edit
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        execute(edit)

    # then
    assert verify() == (0, "ok 4 entries\n")

    # when: someone who can drop the trigger edits anyway
    guard.uninstall(connection)
    execute(edit)

    # then
    assert AuditEntry.objects.get(seq=2).details == {"n": 99}
    assert verify() == (1, "broken at #2: entry content does not match its hash\n")


def test_a_deleted_entry_in_the_middle_is_detected(append: Any) -> None:
    # given
    append(5)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        execute("DELETE FROM audit_auditentry WHERE seq = 3")

    # when
    guard.uninstall(connection)
    execute("DELETE FROM audit_auditentry WHERE seq = 3")

    # then
    assert verify() == (1, "broken at #3: entry #3 is missing\n")


def test_a_forged_hash_is_detected(append: Any) -> None:
    # given: the attacker rewrites entry 2 and recomputes "its hash" without the HMAC key, then
    # relinks entry 3 so that the links alone look right
    entries = append(4)
    guard.uninstall(connection)
    forged = hashlib.sha256(b"forged entry 2").hexdigest()
    execute(f"""UPDATE audit_auditentry SET details = '{{"n": 42}}', entry_hash = '{forged}' WHERE seq = 2""")
    execute(f"UPDATE audit_auditentry SET prev_hash = '{forged}' WHERE seq = 3")

    # then
    assert entries[1].entry_hash != forged
    assert verify() == (1, "broken at #2: entry content does not match its hash\n")


def test_a_broken_link_is_detected(append: Any) -> None:
    # given
    append(3)
    guard.uninstall(connection)
    execute(f"UPDATE audit_auditentry SET prev_hash = '{'a' * 64}' WHERE seq = 3")

    # then
    assert verify() == (1, "broken at #3: link to the previous entry does not match\n")


def test_an_inserted_entry_is_detected(append: Any) -> None:
    # given: an entry squeezed in with a made-up sequence number and hash
    entries = append(2)
    AuditEntry.objects.create(
        seq=3,
        at=entries[1].at,
        action="test.inserted",
        details={},
        prev_hash=entries[1].entry_hash,
        entry_hash="b" * 64,
    )

    # then
    assert verify() == (1, "broken at #3: entry content does not match its hash\n")


def test_the_details_survive_as_json(append: Any) -> None:
    # given
    append(1)

    # then: the stored details are plain JSON, readable by any tool
    with connection.cursor() as cursor:
        cursor.execute("SELECT details FROM audit_auditentry WHERE seq = 1")
        (raw,) = cursor.fetchone()
    value = json.loads(raw) if isinstance(raw, str) else raw
    assert value == {"n": 0}
