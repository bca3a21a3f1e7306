"""``medoa manage audit_verify``: walk the audit chain.

Prints ``ok N entries`` and exits 0, or ``broken at #SEQ: reason`` for the first broken link and
exits 1.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from medoa.core.audit.services import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the hash chain of the audit log: 'ok N entries', or the first broken link (exit 1)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit_chain_verify()
        if result.ok:
            self.stdout.write(f"ok {result.entries} entries")
            return
        self.stdout.write(f"broken at #{result.broken_seq}: {result.reason_text}")
        sys.exit(1)
