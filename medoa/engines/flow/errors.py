"""What the process engine's services raise. Each error maps to one HTTP status in the API:

* ``FlowInputError`` → 400/422: the request itself is wrong (an unknown user, a step that does not
  exist, an assignment rule nobody matches …);
* ``FlowPermissionDenied`` → 403: the caller may not do this;
* ``FlowNotFound`` → 404: there is no such thing, or the caller may not see it;
* ``FlowConflict`` → 409: the state changed under the caller (someone else acted first, the
  instance is suspended or over, the task is blocked …).

``message`` is a lazy translation (an English msgid); ``field`` names the input the message is
about, when there is one; ``errors`` lists ``(field, message)`` per input at fault (one entry per
rejected file, for instance).
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import lazy
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from medoa.core.errors import ServiceError, fmt

__all__ = [
    "FlowConflict",
    "FlowError",
    "FlowInputError",
    "FlowNotFound",
    "FlowPermissionDenied",
    "fmt",
    "localized",
]


class FlowError(ServiceError):
    default_message: Any = _("The process engine refused this request.")


class FlowInputError(FlowError):
    default_message = _("The request is not valid for this process.")


class FlowPermissionDenied(FlowError):
    default_message = _("You may not do this.")


class FlowNotFound(FlowError):
    default_message = _("Not found.")


class FlowConflict(FlowError):
    default_message = _("This task was already handled by someone else.")


def localized(zh: str, en: str) -> Any:
    """A value shown as ``zh`` in Chinese and ``en`` (when not empty) in English."""
    return _pick_lazy(zh, en)


def _pick(zh: str, en: str) -> str:
    language = get_language() or "zh-hans"
    return en if language.startswith("en") and en else zh


_pick_lazy = lazy(_pick, str)
