"""What the process engine's services raise. Each error maps to one HTTP status in the API:

* ``FlowInputError`` → 400/422: the request itself is wrong (an unknown user, a step that does not
  exist, an assignment rule nobody matches …);
* ``FlowPermissionDenied`` → 403: the caller may not do this;
* ``FlowNotFound`` → 404: there is no such thing, or the caller may not see it;
* ``FlowConflict`` → 409: the state changed under the caller (someone else acted first, the
  instance is suspended or over, the task is blocked …).

``message`` is a lazy translation (an English msgid); ``field`` names the input the message is
about, when there is one.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class FlowError(Exception):
    default_message: Any = _("The process engine refused this request.")

    def __init__(self, message: Any = None, *, field: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        self.field = field
        super().__init__(str(self.message))

    def __str__(self) -> str:
        return str(self.message)


class FlowInputError(FlowError):
    default_message = _("The request is not valid for this process.")


class FlowPermissionDenied(FlowError):
    default_message = _("You may not do this.")


class FlowNotFound(FlowError):
    default_message = _("Not found.")


class FlowConflict(FlowError):
    default_message = _("This task was already handled by someone else.")
