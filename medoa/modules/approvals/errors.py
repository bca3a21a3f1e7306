"""What the approval centre's services raise; each maps to one HTTP status in the API:

* ``ApprovalInputError`` → 422: the request is wrong, ``field`` says where (``data.end_date``);
* ``ApprovalPermissionDenied`` → 403;
* ``ApprovalNotFound`` → 404 (also when the caller may not see it);
* ``ApprovalConflict`` → 409: the state does not allow it (already finished …).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext_lazy as _

from medoa.core.errors import ServiceError, fmt

__all__ = [
    "ApprovalConflict",
    "ApprovalError",
    "ApprovalInputError",
    "ApprovalNotFound",
    "ApprovalPermissionDenied",
    "fmt",
]


class ApprovalError(ServiceError):
    default_message: Any = _("The approval centre refused this request.")


class ApprovalInputError(ApprovalError):
    """Bad input: ``ApprovalInputError("end_date", _("…"))`` — the field first (a request type's
    ``prepare`` names the fields of its ``data``; the services prefix them with ``data.``)."""

    default_message = _("The request is not valid.")

    def __init__(
        self,
        field: str | None = None,
        message: Any = None,
        *,
        errors: Sequence[tuple[str, Any]] = (),
    ) -> None:
        super().__init__(message, field=field, errors=errors)


class ApprovalPermissionDenied(ApprovalError):
    default_message = _("You may not do this.")


class ApprovalNotFound(ApprovalError):
    default_message = _("Not found.")


class ApprovalConflict(ApprovalError):
    default_message = _("This request cannot be changed any more.")
