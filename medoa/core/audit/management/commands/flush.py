"""Django's ``flush``, aware of the append-only audit log.

The audit tables' triggers (``medoa.core.audit.guard``) refuse the TRUNCATE or DELETE that ``flush``
issues, so on a real database ``flush`` fails and erases nothing — the audit log is not something
one command may wipe. Under the test profile (``MEDOA_ENV=test``), where Django's transactional
tests empty the database with ``flush`` after every test, the guard is lifted for the flush and put
back right after.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.commands import flush
from django.db import connections

from medoa.core.audit import guard


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        if not getattr(settings, "IS_TEST", False):
            super().handle(**options)
            return
        connection = connections[options["database"]]
        present = guard.installed_triggers(connection)
        if present:
            guard.uninstall(connection)
        try:
            super().handle(**options)
        finally:
            if present:
                guard.install(connection)
