"""The base of the engines' service errors (the form engine's ``FormsError``, the process
engine's ``FlowError``): a lazy English message (answered in Chinese and English by the API), the
input it is about, and ``(field, message)`` for each input at fault. Each engine subclasses it with
its own default message and its own refusals, and maps them to HTTP statuses in its api.py.

``fmt`` builds a message with parameters that stays lazy, so it is rendered in the language active
whenever it is shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.functional import Promise, lazy
from django.utils.translation import gettext_lazy as _


class ServiceError(Exception):
    default_message: Any = _("The request is not valid.")  # each engine says its own

    def __init__(
        self, message: Any = None, *, field: str | None = None, errors: Sequence[tuple[str, Any]] = ()
    ) -> None:
        self.message = message if message is not None else self.default_message
        self.field = field
        # (field, message) for each input at fault when there are several (e.g. one per file)
        self.errors = list(errors) or ([(field, self.message)] if field else [])
        super().__init__(str(self.message))

    def __str__(self) -> str:
        return str(self.message)


def _interpolate(message: Any, params: Mapping[str, Any]) -> str:
    return str(message) % {k: str(v) if isinstance(v, Promise) else v for k, v in params.items()}


_interpolate_lazy = lazy(_interpolate, str)


def fmt(message: Any, params: Mapping[str, Any]) -> Any:
    """``message % params``, rendered in the language active whenever it is shown (so the API can
    answer in Chinese and English); lazy values among ``params`` are rendered likewise."""
    return _interpolate_lazy(message, dict(params))
