"""The shell's template context: everything lazy, so a page pays only for what it shows.

``shell`` offers ``staff`` (the signed-in person, with department), ``nav`` (navigation groups),
``unread_count`` (one COUNT query, none when the workbench's notifications card already counted),
``languages`` and the layout's fixed links (``logout_url``, ``workbench_url``, ``inbox_url``,
``set_language_url``); ``nav`` is also given top-level for templates that only need the
navigation.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from medoa.core.access.policy import principal_of
from medoa.core.notify.cards import unread_count_for_request
from medoa.core.org.models import Staff
from medoa.core.registries import menu

from .navigation import NavGroup, build_nav, url_of

LOGOUT_FALLBACK = "/accounts/logout/"


class ShellContext:
    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    @cached_property
    def user(self) -> Any:
        return getattr(self.request, "user", None)

    @cached_property
    def signed_in(self) -> bool:
        return bool(self.user is not None and self.user.is_authenticated)

    @cached_property
    def staff(self) -> Staff | None:
        principal = principal_of(self.user) if self.signed_in else None
        return principal.staff if principal is not None else None

    @cached_property
    def display_name(self) -> str:
        if self.staff is not None:
            return self.staff.name
        return str(self.user.get_full_name() or self.user.get_username()) if self.signed_in else ""

    @cached_property
    def nav(self) -> list[NavGroup]:
        if not self.signed_in:
            return []
        return build_nav(user=self.user, path=self.request.path, entries=menu)

    @cached_property
    def unread_count(self) -> int:
        return unread_count_for_request(self.request) if self.signed_in else 0

    @cached_property
    def logout_url(self) -> str:
        return url_of("access:logout") or LOGOUT_FALLBACK

    # The layout's fixed links, reversed once per process (``navigation.url_of``) rather than by
    # ``{% url %}`` on every page.
    @property
    def workbench_url(self) -> str:
        return url_of("web:workbench") or "/"

    @property
    def inbox_url(self) -> str:
        return url_of("notify:notification_list") or ""

    @property
    def set_language_url(self) -> str:
        return url_of("set_language") or ""

    @property
    def languages(self) -> list[tuple[str, str]]:
        return list(settings.LANGUAGES)


def shell(request: HttpRequest) -> dict[str, Any]:
    context = ShellContext(request)
    return {"shell": context, "nav": SimpleLazyObject(lambda: context.nav)}
