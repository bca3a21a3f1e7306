"""Database triggers that make the audit tables append-only.

* ``audit_auditentry``: every UPDATE and DELETE is refused (and TRUNCATE on PostgreSQL);
* ``audit_auditchainhead``: the head row cannot be deleted (or truncated), and an UPDATE must move
  it forward by exactly one entry, onto an entry that exists with that hash.

PostgreSQL gets PL/pgSQL trigger functions, SQLite ``RAISE(ABORT, …)`` triggers; both report
``integrity_constraint_violation`` (Django's ``IntegrityError``) with a message that starts with
"the audit log is append-only". Other database vendors get nothing.

The triggers stop the application (and anyone using its database account carelessly) from rewriting
history; someone who owns the tables or the SQLite file can still drop them. What such a person then
changes shows up in ``medoa manage audit_verify``, because they do not hold the HMAC key.

Two consequences to remember:

* ``manage.py flush`` fails on a database with audit entries. Under the test profile this app's
  ``flush`` command lifts the guard for the flush and puts it back (Django's transactional tests
  empty the database with ``flush``).
* On SQLite, a migration that alters ``AuditEntry`` or ``AuditChainHead`` rebuilds the table and
  loses its triggers: such a migration must end with ``RunPython(install_for_migration,
  uninstall_for_migration)``.
"""

# The SQL below is built from module constants only (no outside input).
# ruff: noqa: S608

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

ENTRY_TABLE = "audit_auditentry"
HEAD_TABLE = "audit_auditchainhead"
MESSAGE = "the audit log is append-only"

_PG_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION medoa_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}: % on % is refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END
    $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION medoa_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.id <> OLD.id OR NEW.last_seq <> OLD.last_seq + 1 OR NOT EXISTS (
            SELECT 1 FROM {ENTRY_TABLE} WHERE seq = NEW.last_seq AND entry_hash = NEW.last_hash
        ) THEN
            RAISE EXCEPTION '{MESSAGE}: the chain head may only move forward by one entry'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    f"DROP TRIGGER IF EXISTS medoa_audit_entry_append_only ON {ENTRY_TABLE}",
    f"""CREATE TRIGGER medoa_audit_entry_append_only BEFORE UPDATE OR DELETE ON {ENTRY_TABLE}
        FOR EACH ROW EXECUTE FUNCTION medoa_audit_append_only()""",
    f"DROP TRIGGER IF EXISTS medoa_audit_entry_no_truncate ON {ENTRY_TABLE}",
    f"""CREATE TRIGGER medoa_audit_entry_no_truncate BEFORE TRUNCATE ON {ENTRY_TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION medoa_audit_append_only()""",
    f"DROP TRIGGER IF EXISTS medoa_audit_head_no_delete ON {HEAD_TABLE}",
    f"""CREATE TRIGGER medoa_audit_head_no_delete BEFORE DELETE ON {HEAD_TABLE}
        FOR EACH ROW EXECUTE FUNCTION medoa_audit_append_only()""",
    f"DROP TRIGGER IF EXISTS medoa_audit_head_no_truncate ON {HEAD_TABLE}",
    f"""CREATE TRIGGER medoa_audit_head_no_truncate BEFORE TRUNCATE ON {HEAD_TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION medoa_audit_append_only()""",
    f"DROP TRIGGER IF EXISTS medoa_audit_head_forward ON {HEAD_TABLE}",
    f"""CREATE TRIGGER medoa_audit_head_forward BEFORE UPDATE ON {HEAD_TABLE}
        FOR EACH ROW EXECUTE FUNCTION medoa_audit_head_forward()""",
]

_PG_UNINSTALL = [
    f"DROP TRIGGER IF EXISTS medoa_audit_entry_append_only ON {ENTRY_TABLE}",
    f"DROP TRIGGER IF EXISTS medoa_audit_entry_no_truncate ON {ENTRY_TABLE}",
    f"DROP TRIGGER IF EXISTS medoa_audit_head_no_delete ON {HEAD_TABLE}",
    f"DROP TRIGGER IF EXISTS medoa_audit_head_no_truncate ON {HEAD_TABLE}",
    f"DROP TRIGGER IF EXISTS medoa_audit_head_forward ON {HEAD_TABLE}",
    "DROP FUNCTION IF EXISTS medoa_audit_head_forward()",
    "DROP FUNCTION IF EXISTS medoa_audit_append_only()",
]

_SQLITE_TRIGGERS = {
    "medoa_audit_entry_no_update": f"""
        CREATE TRIGGER IF NOT EXISTS medoa_audit_entry_no_update BEFORE UPDATE ON {ENTRY_TABLE}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}: UPDATE on {ENTRY_TABLE} is refused'); END""",
    "medoa_audit_entry_no_delete": f"""
        CREATE TRIGGER IF NOT EXISTS medoa_audit_entry_no_delete BEFORE DELETE ON {ENTRY_TABLE}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE on {ENTRY_TABLE} is refused'); END""",
    "medoa_audit_head_no_delete": f"""
        CREATE TRIGGER IF NOT EXISTS medoa_audit_head_no_delete BEFORE DELETE ON {HEAD_TABLE}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE on {HEAD_TABLE} is refused'); END""",
    "medoa_audit_head_forward": f"""
        CREATE TRIGGER IF NOT EXISTS medoa_audit_head_forward BEFORE UPDATE ON {HEAD_TABLE}
        WHEN NEW.id <> OLD.id OR NEW.last_seq <> OLD.last_seq + 1 OR NOT EXISTS (
            SELECT 1 FROM {ENTRY_TABLE} WHERE seq = NEW.last_seq AND entry_hash = NEW.last_hash
        )
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}: the chain head may only move forward by one entry'); END""",
}

PG_TRIGGERS = (
    "medoa_audit_entry_append_only",
    "medoa_audit_entry_no_truncate",
    "medoa_audit_head_no_delete",
    "medoa_audit_head_no_truncate",
    "medoa_audit_head_forward",
)


def _statements(connection: BaseDatabaseWrapper, *, install: bool) -> list[str]:
    if connection.vendor == "postgresql":
        return _PG_INSTALL if install else _PG_UNINSTALL
    if connection.vendor == "sqlite":
        if install:
            return list(_SQLITE_TRIGGERS.values())
        return [f"DROP TRIGGER IF EXISTS {name}" for name in _SQLITE_TRIGGERS]
    return []


def install(connection: BaseDatabaseWrapper) -> None:
    """Create (or re-create) the triggers; idempotent."""
    with connection.cursor() as cursor:
        for sql in _statements(connection, install=True):
            cursor.execute(sql)


def uninstall(connection: BaseDatabaseWrapper) -> None:
    """Drop the triggers (and the PostgreSQL trigger functions); idempotent."""
    with connection.cursor() as cursor:
        for sql in _statements(connection, install=False):
            cursor.execute(sql)


def installed_triggers(connection: BaseDatabaseWrapper) -> set[str]:
    """The names of this module's triggers that exist in the database."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname = ANY(%s)",
                [list(PG_TRIGGERS)],
            )
        elif connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN (%s, %s, %s, %s)",
                list(_SQLITE_TRIGGERS),
            )
        else:
            return set()
        return {row[0] for row in cursor.fetchall()}


def is_installed(connection: BaseDatabaseWrapper) -> bool:
    expected = set(PG_TRIGGERS) if connection.vendor == "postgresql" else set(_SQLITE_TRIGGERS)
    return connection.vendor in {"postgresql", "sqlite"} and installed_triggers(connection) == expected


def install_for_migration(apps: Any, schema_editor: Any) -> None:
    install(schema_editor.connection)


def uninstall_for_migration(apps: Any, schema_editor: Any) -> None:
    uninstall(schema_editor.connection)
