"""``medoa manage rotate_field_keys``: re-encrypt every encrypted column under the active key.

Finds every ``EncryptedTextField`` of every installed model, reads the stored values in primary-key
order in batches, and re-encrypts those sealed under another key id. Each batch is one transaction;
a value is written back only if it is still what was read (compare-and-set), so a change that
commits meanwhile — already under the active key — is never overwritten. Values already under the
active key are skipped, so the command can be run again at any time (and resumes where an
interrupted run stopped). It reports counts per model and field and writes one audit entry.

A rotation: add the new key to ``MEDOA_FIELD_KEYS``, make it active (``MEDOA_FIELD_KEY_ACTIVE``),
restart, run this command, and drop the old key once it reports nothing left under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction

from medoa.core.audit.services import audit_record
from medoa.core.crypto import (
    DecryptionError,
    EncryptedTextField,
    active_key_id,
    decrypt,
    encrypt,
    key_id_of,
)


@dataclass
class FieldCount:
    rotated: int = 0
    current: int = 0
    plaintext: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "rotated": self.rotated,
            "current": self.current,
            "plaintext": self.plaintext,
            "failed": self.failed,
        }


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedTextField]]:
    """Every concrete ``EncryptedTextField`` of every installed model, each column once."""
    found = []
    for model in apps.get_models():
        opts = model._meta
        if opts.proxy or not opts.managed:
            continue
        for field in opts.local_concrete_fields:
            if isinstance(field, EncryptedTextField):
                found.append((model, field))
    return found


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field under the active field key (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction")
        parser.add_argument("--dry-run", action="store_true", help="count only, change nothing")
        parser.add_argument(
            "--encrypt-plaintext",
            action="store_true",
            help="also encrypt values that are stored as plain text (a column that just became encrypted)",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        dry_run: bool = options["dry_run"]
        active = active_key_id()
        counts: dict[str, FieldCount] = {}
        for model, field in encrypted_fields():
            label = f"{model._meta.label_lower}.{field.name}"
            counts[label] = self._rotate_column(
                model,
                field,
                using=options["database"],
                active=active,
                batch_size=batch_size,
                dry_run=dry_run,
                encrypt_plaintext=options["encrypt_plaintext"],
            )
            c = counts[label]
            self.stdout.write(
                f"{label}: {c.rotated} re-encrypted, {c.current} already current, "
                f"{c.plaintext} left as plain text, {c.failed} failed"
            )
        total = FieldCount(
            rotated=sum(c.rotated for c in counts.values()),
            current=sum(c.current for c in counts.values()),
            plaintext=sum(c.plaintext for c in counts.values()),
            failed=sum(c.failed for c in counts.values()),
        )
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        self.stdout.write(f"{verb} {total.rotated} values under key {active}")
        if not dry_run:
            with transaction.atomic(using=options["database"]):
                audit_record(
                    actor=None,
                    actor_name="manage rotate_field_keys",
                    action="crypto.field_keys.rotated",
                    outcome="failure" if total.failed else "success",
                    details={
                        "active_key": active,
                        "fields": {label: c.as_dict() for label, c in counts.items()},
                        "total": total.as_dict(),
                    },
                )
        if total.failed:
            raise CommandError(
                f"{total.failed} values did not decrypt (unknown key id or damaged); "
                "they were left as they are"
            )

    def _rotate_column(
        self,
        model: type[models.Model],
        field: EncryptedTextField,
        *,
        using: str,
        active: str,
        batch_size: int,
        dry_run: bool,
        encrypt_plaintext: bool,
    ) -> FieldCount:
        connection = connections[using]
        qn = connection.ops.quote_name
        pk_field = model._meta.pk
        assert pk_field is not None and pk_field.column and field.column
        # Identifiers come from the model registry and are quoted; values are parameters.
        table, column, pk = qn(model._meta.db_table), qn(field.column), qn(pk_field.column)
        select_first = (
            f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL AND {column} <> '' "  # noqa: S608
            f"ORDER BY {pk} LIMIT %s"
        )
        select_next = (
            f"SELECT {pk}, {column} FROM {table} WHERE {pk} > %s AND {column} IS NOT NULL "  # noqa: S608
            f"AND {column} <> '' ORDER BY {pk} LIMIT %s"
        )
        update = f"UPDATE {table} SET {column} = %s WHERE {pk} = %s AND {column} = %s"  # noqa: S608
        context = field.encryption_context
        count = FieldCount()
        last_pk: Any = None
        while True:
            with transaction.atomic(using=using), connection.cursor() as cursor:
                if last_pk is None:
                    cursor.execute(select_first, [batch_size])
                else:
                    cursor.execute(select_next, [last_pk, batch_size])
                rows = cursor.fetchall()
                for row_pk, stored in rows:
                    kid = key_id_of(stored)
                    if kid == active:
                        count.current += 1
                        continue
                    if kid is None:
                        if not encrypt_plaintext:
                            count.plaintext += 1
                            continue
                        plaintext = stored
                    else:
                        try:
                            plaintext = decrypt(stored, context=context)
                        except DecryptionError:
                            count.failed += 1
                            continue
                    if dry_run:
                        count.rotated += 1
                        continue
                    cursor.execute(update, [str(encrypt(plaintext, context=context)), row_pk, stored])
                    if cursor.rowcount == 1:
                        count.rotated += 1
                    else:
                        count.current += 1  # changed meanwhile, so written under the active key
            if len(rows) < batch_size:
                return count
            last_pk = rows[-1][0]
