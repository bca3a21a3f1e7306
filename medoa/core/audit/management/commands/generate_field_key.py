"""``medoa manage generate_field_key``: print a new ``kid:key`` pair for ``MEDOA_FIELD_KEYS``.

The key is 32 random bytes in base64. Append the pair to ``MEDOA_FIELD_KEYS`` (comma-separated),
set ``MEDOA_FIELD_KEY_ACTIVE`` to its key id, restart, then run ``rotate_field_keys``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.crypto import get_random_string

from medoa.core.crypto import KEY_ID_RE, generate_key


class Command(BaseCommand):
    help = "Print a new field encryption key as 'kid:base64key' for MEDOA_FIELD_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kid", default="", help="key id (default: k<date>-<random>)")

    def handle(self, *args: Any, **options: Any) -> None:
        kid: str = options["kid"] or (
            f"k{timezone.now():%Y%m%d}-{get_random_string(4, 'abcdefghijklmnopqrstuvwxyz0123456789')}"
        )
        if not KEY_ID_RE.match(kid):
            raise CommandError("--kid must be 1–32 characters of letters, digits, '.', '_' or '-'")
        self.stdout.write(f"{kid}:{generate_key()}")
