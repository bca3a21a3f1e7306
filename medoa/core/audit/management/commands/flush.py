"""Django's ``flush``, aware of the append-only audit log.

The audit tables' triggers (``medoa.core.audit.guard``) refuse the TRUNCATE or DELETE that ``flush``
issues: the audit log is not something one command may wipe. Where the guard is installed this
command therefore refuses at once, erasing nothing, and says how to start over instead. Under the
test profile (``MEDOA_ENV=test``), where Django's transactional tests empty the database with
``flush`` after every test, the guard is lifted for the flush and put back right after.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import flush
from django.db import connections

from medoa.core.audit import guard


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        connection = connections[options["database"]]
        present = guard.installed_triggers(connection)
        if not getattr(settings, "IS_TEST", False):
            if present:
                raise CommandError(
                    "The audit log is append-only: its database triggers refuse a flush, and nothing "
                    "was erased. To start over, drop and re-create the database, then run migrate."
                )
            super().handle(**options)
            return
        if present:
            guard.uninstall(connection)
        try:
            super().handle(**options)
        finally:
            if present:
                guard.install(connection)
