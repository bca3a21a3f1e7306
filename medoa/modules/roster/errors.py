"""What the roster services raise. Each maps to one HTTP status in the API and the pages:

* ``RosterInputError`` → 422: the request itself is wrong (``field`` names the input at fault);
* ``RosterRuleViolation`` → 422: the change would break a hard rule (``violations`` says which);
* ``RosterConflict`` → 409: the roster's state does not allow it (being generated, decided swap);
* ``RosterPermissionDenied`` → 403; ``RosterNotFound`` → 404.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from medoa.core.errors import ServiceError


class RosterError(ServiceError):
    default_message = _("The roster refused this request.")


class RosterInputError(RosterError):
    default_message = _("The request is not valid.")


class RosterPermissionDenied(RosterError):
    default_message = _("You do not have permission to do this.")


class RosterNotFound(RosterError):
    default_message = _("Not found.")


class RosterConflict(RosterError):
    default_message = _("The roster cannot do this in its present state.")


class RosterRuleViolation(RosterError):
    """The change breaks hard rules: ``violations`` lists them (``CellViolation.as_dict()``)."""

    default_message = _("The change breaks a hard rule; nothing was changed.")

    def __init__(self, violations: list[dict[str, Any]], message: Any = None) -> None:
        self.violations = violations
        super().__init__(message)
