"""The shell's template context: navigation built from the menu registry."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from medoa.core.access.policy import has_perm
from medoa.core.registries import menu


def shell(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": []}
    entries = []
    for entry in sorted(menu, key=lambda e: (e.order, e.key)):
        if entry.permission and not has_perm(user, entry.permission):
            continue
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:
            continue
        entries.append(
            {
                "key": entry.key,
                "label": entry.label,
                "url": url,
                "icon": entry.icon,
                "group": entry.group,
                "active": request.path.startswith(url) and url != "/",
            }
        )
    return {"nav": entries}
