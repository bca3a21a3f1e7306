"""The shell's one write: remembering a signed-in user's language."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction


@transaction.atomic
def user_language_set(*, user: Any, language: str) -> bool:
    """Store ``language`` as the user's preference; returns whether anything changed."""
    if language not in {code for code, _name in settings.LANGUAGES}:
        raise ValueError(f"unsupported language {language!r}")
    if user.language == language:
        return False
    user.language = language
    user.save(update_fields=["language"])
    return True
