"""What the rule engine's services raise besides the DMN module's own errors
(``dmn.DmnInvalid`` → 400 with every problem, ``dmn.DmnEvaluationError`` → 422). Each maps to one
HTTP status in the API:

* ``RulesInputError`` → 422: the request itself is wrong (``field`` names the input at fault);
* ``RulesPermissionDenied`` → 403; ``RulesNotFound`` → 404.

``message`` is a lazy translation (an English msgid).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class RulesError(Exception):
    default_message: Any = _("The rule engine refused this request.")

    def __init__(self, message: Any = None, *, field: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        self.field = field
        super().__init__(str(self.message))

    def __str__(self) -> str:
        return str(self.message)


class RulesInputError(RulesError):
    default_message = _("The request is not valid.")


class RulesPermissionDenied(RulesError):
    default_message = _("You do not have permission to do this.")


class RulesNotFound(RulesError):
    default_message = _("Not found.")


class RuleInvalid(RulesError):
    """A rule that may not be saved: ``errors`` names every field at fault, each as
    ``{"field", "message", "message_en", "type"}`` (``field`` like ``condition`` or
    ``actions.1.params.title``; a condition's syntax error carries ``position``, ``line``,
    ``column``)."""

    default_message = _("The rule cannot be saved; nothing was changed.")

    def __init__(self, errors: list[dict[str, Any]], message: Any = None) -> None:
        self.errors = errors
        super().__init__(message, field=errors[0]["field"] if errors else None)
