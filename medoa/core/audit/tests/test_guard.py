"""The database refuses to rewrite the audit log (triggers on PostgreSQL and SQLite)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from medoa.core.audit import guard
from medoa.core.audit.models import AuditChainHead, AuditEntry
from medoa.core.audit.services import audit_chain_verify, audit_record

pytestmark = pytest.mark.django_db


def _execute(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)


def _refused(sql: str) -> str:
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        _execute(sql)
    return str(caught.value)


def test_the_migration_installed_the_guard() -> None:
    assert guard.is_installed(connection)


def test_update_of_an_entry_is_refused(append: Any) -> None:
    # given
    append(2)

    # when
    message = _refused("UPDATE audit_auditentry SET action = 'test.rewritten' WHERE seq = 1")

    # then
    assert "the audit log is append-only" in message
    assert "UPDATE" in message
    assert AuditEntry.objects.get(seq=1).action == "test.thing"


def test_orm_update_and_delete_are_refused_too(append: Any) -> None:
    # given
    append(2)

    # then
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(seq=1).update(actor_name="someone")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(seq=2).delete()
    assert AuditEntry.objects.count() == 2
    assert audit_chain_verify().ok


def test_delete_of_an_entry_is_refused(append: Any) -> None:
    # given
    append(3)

    # when
    message = _refused("DELETE FROM audit_auditentry WHERE seq = 2")

    # then
    assert "append-only" in message and "DELETE" in message
    assert AuditEntry.objects.count() == 3


def test_truncate_is_refused_on_postgresql(append: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    append(1)

    assert "TRUNCATE" in _refused("TRUNCATE audit_auditentry")
    assert "TRUNCATE" in _refused("TRUNCATE audit_auditchainhead")
    assert AuditEntry.objects.count() == 1


def test_the_chain_head_cannot_be_deleted_or_moved_back(append: Any) -> None:
    # given
    entries = append(3)

    # then
    assert "append-only" in _refused("DELETE FROM audit_auditchainhead")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditChainHead.objects.filter(pk=1).update(last_seq=2, last_hash=entries[1].entry_hash)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditChainHead.objects.filter(pk=1).update(last_seq=4, last_hash="0" * 64)
    head = AuditChainHead.objects.get(pk=1)
    assert (head.last_seq, head.last_hash) == (3, entries[2].entry_hash)


def test_appending_still_works_under_the_guard(append: Any) -> None:
    # when
    append(3)
    entry = audit_record(actor=None, action="test.after")

    # then
    assert entry.seq == 4
    assert audit_chain_verify().ok


def test_uninstall_and_install_are_idempotent_and_reverse_each_other() -> None:
    # when
    guard.uninstall(connection)
    guard.uninstall(connection)

    # then
    assert guard.installed_triggers(connection) == set()

    # when
    guard.install(connection)
    guard.install(connection)

    # then
    assert guard.is_installed(connection)


def test_the_migration_can_be_reversed_and_applied_again(append: Any) -> None:
    # given
    append(1)

    # when: the migration's reverse step
    guard.uninstall_for_migration(None, connection.schema_editor())

    # then: the tables are writable again
    _execute("UPDATE audit_auditentry SET actor_name = 'x' WHERE seq = 1")

    # when: applied again
    guard.install_for_migration(None, connection.schema_editor())

    # then
    assert "append-only" in _refused("UPDATE audit_auditentry SET actor_name = 'y' WHERE seq = 1")


@pytest.mark.django_db(transaction=True)
def test_flush_keeps_working_under_the_test_profile_and_restores_the_guard() -> None:
    # given
    audit_record(actor=None, action="test.flushed")

    # when
    call_command("flush", interactive=False, verbosity=0)

    # then
    assert AuditEntry.objects.count() == 0
    assert guard.is_installed(connection)


@pytest.mark.django_db(transaction=True)
def test_flush_outside_the_test_profile_is_refused_and_erases_nothing(settings: Any) -> None:
    # given
    settings.IS_TEST = False
    audit_record(actor=None, action="test.kept")

    # when
    with pytest.raises(
        CommandError, match="The audit log is append-only: its database triggers refuse a flush"
    ):
        call_command("flush", interactive=False, verbosity=0)

    # then
    assert AuditEntry.objects.count() == 1
    assert audit_chain_verify().ok
