"""Password policy profiles chosen by MEDOA_PASSWORD_POLICY: ``asvs`` (default) and ``dengbao``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class PolicyValidator:
    def validate(self, password: str, user: Any = None) -> None:
        if len(password) < 8:
            raise ValidationError(
                _("The password must have at least 8 characters."), code="password_too_short"
            )

    def get_help_text(self) -> str:
        return _("At least 8 characters.") if settings.MEDOA_PASSWORD_POLICY else ""
