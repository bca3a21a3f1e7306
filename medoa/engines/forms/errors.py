"""What the form engine's services raise. Each error maps to one HTTP status in the API:

* ``FormsInputError`` → 422 (or 400 for a schema): the request itself is wrong;
  ``ValidationFailed`` is the one for data that does not fit the form (``field_errors`` holds
  validation's ``FieldError`` list, one per field at fault); ``SchemaInvalid`` for a schema that
  cannot be published (``problems`` holds every ``Problem``);
* ``FormsPermissionDenied`` → 403; ``FormsNotFound`` → 404 (also for what the caller may not see);
* ``FormsConflict`` → 409: the state is not what the caller assumed (another version of the form
  is current, the record was already decided …).

``message`` is a lazy translation (an English msgid); ``errors`` lists ``(field, message)`` pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext_lazy as _

from medoa.core.errors import ServiceError, fmt

__all__ = [
    "FormsConflict",
    "FormsError",
    "FormsInputError",
    "FormsNotFound",
    "FormsPermissionDenied",
    "SchemaInvalid",
    "ValidationFailed",
    "fmt",
]


class FormsError(ServiceError):
    default_message: Any = _("The form engine refused this request.")


class FormsInputError(FormsError):
    default_message = _("The request is not valid for this form.")


class FormsPermissionDenied(FormsError):
    default_message = _("You do not have permission to do this.")


class FormsNotFound(FormsError):
    default_message = _("Not found.")


class FormsConflict(FormsError):
    default_message = _("The form or the record changed in the meantime.")


class ValidationFailed(FormsInputError):
    """The data does not fit the form: ``field_errors`` are validation's ``FieldError``s."""

    default_message = _("The form has errors; nothing was saved.")

    def __init__(self, field_errors: Sequence[Any], message: Any = None) -> None:
        self.field_errors = list(field_errors)
        super().__init__(message, errors=[(e.field, e.message) for e in self.field_errors])


class SchemaInvalid(FormsInputError):
    """The schema cannot be published: ``problems`` are schema's ``Problem``s (every one)."""

    default_message = _("The form schema is not valid; nothing was changed.")

    def __init__(self, problems: Sequence[Any], message: Any = None) -> None:
        self.problems = list(problems)
        super().__init__(message, errors=[(p.path, p.message) for p in self.problems])
