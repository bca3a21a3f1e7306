"""The base of the engines' service errors (the form engine's ``FormsError``, the process
engine's ``FlowError``): a lazy English message (answered in Chinese and English by the API), the
input it is about, and ``(field, message)`` for each input at fault. Each engine subclasses it with
its own default message and its own refusals, and maps them to HTTP statuses in its api.py.

``error_pages`` makes the views' decorator that shows an engine's not-found and permission
errors as the 404 and 403 pages. ``fmt`` builds a message with parameters that stays lazy, so it
is rendered in the language active whenever it is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
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


V = TypeVar("V", bound=Callable[..., HttpResponseBase])


def error_pages(*, not_found: type[Exception], denied: type[Exception]) -> Callable[[V], V]:
    """A view decorator that turns an engine's not-found and permission errors (raised by its
    services and selectors) into the 404 and 403 pages."""

    def decorate(view: V) -> V:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                return view(request, *args, **kwargs)
            except not_found:
                raise Http404 from None
            except denied as exc:
                raise PermissionDenied(str(exc)) from None

        return wrapped  # type: ignore[return-value]

    return decorate
