"""The shell's side navigation, built from the menu registry (``medoa.core.registries.menu``).

Apps register ``MenuEntry`` items in ``AppConfig.ready()``. The shell keeps the entries the user
may see (``permission`` held, URL resolvable), groups them by ``MenuEntry.group`` in the order of
``NAV_GROUPS`` (unknown groups follow, labelled with their key), sorts each group by
``(order, key)`` and marks the one entry that matches the current path best as active.

Entries computed per user (the form engine's no-code apps) come from the providers registered in
``medoa.core.registries.menu_providers``: each is called with the user and returns ``MenuLink``
items whose URL is already resolved; they join the static entries above.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm
from medoa.core.registries import MenuEntry, MenuLink, MenuProvider, menu_providers

# Group key → (position, label). Register entries with one of these keys as ``MenuEntry.group``.
NAV_GROUPS: dict[str, tuple[int, Any]] = {
    "main": (0, _("General")),
    "apps": (5, _("Apps")),
    "approvals": (10, _("Approvals")),
    "comms": (20, _("Collaboration")),
    "roster": (30, _("Rostering")),
    "resources": (40, _("Medical resources")),
    "quality": (50, _("Quality and safety")),
    "training": (60, _("Training and research")),
    "assets": (70, _("Equipment and logistics")),
    "reports": (80, _("Reports")),
    "design": (90, _("Forms, processes and rules")),
    "integration": (100, _("Integration")),
    "org": (110, _("Organisation")),
    "admin": (120, _("Administration")),
    "security": (130, _("Security")),
    "audit": (140, _("Audit")),
}
UNKNOWN_GROUP_POSITION = 1000


@dataclass
class NavItem:
    key: str
    label: Any
    url: str
    icon: str = ""
    active: bool = False

    @property
    def css_key(self) -> str:
        return "".join(ch if ch.isalnum() else "-" for ch in self.key)


@dataclass
class NavGroup:
    key: str
    label: Any
    items: list[NavItem] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return any(item.active for item in self.items)


# url name → its URL, per URLconf and script prefix: reversing every entry on every page is a
# noticeable share of a page's time, and the answer never changes while the process runs.
_reversed: dict[tuple[str, str, str, str], str | None] = {}


def url_of(url_name: str) -> str | None:
    """``reverse(url_name)`` without arguments, remembered; ``None`` when it does not resolve."""
    key = (str(settings.ROOT_URLCONF), str(get_urlconf() or ""), get_script_prefix(), url_name)
    try:
        return _reversed[key]
    except KeyError:
        pass
    try:
        url: str | None = reverse(url_name)
    except NoReverseMatch:
        url = None
    _reversed[key] = url
    return url


def _url_of(entry: MenuEntry) -> str | None:
    return url_of(entry.url_name)


def _matches(path: str, url: str) -> bool:
    if url == "/":
        return path == "/"
    return path == url or path.startswith(url if url.endswith("/") else url + "/")


def build_nav(
    *,
    user: Any,
    path: str,
    entries: Iterable[MenuEntry],
    providers: Iterable[MenuProvider] | None = None,
) -> list[NavGroup]:
    """The groups of entries ``user`` may see, with the best match for ``path`` marked active.
    ``providers`` default to the registered menu providers."""
    visible: list[tuple[MenuEntry | MenuLink, str]] = []
    for entry in entries:
        if entry.permission and not has_perm(user, entry.permission):
            continue
        url = _url_of(entry)
        if url is not None:
            visible.append((entry, url))
    for provider in menu_providers if providers is None else providers:
        visible.extend((link, link.url) for link in provider(user))

    best: tuple[int, str] | None = None
    for item, url in visible:
        if _matches(path, url) and (best is None or len(url) > best[0]):
            best = (len(url), item.key)

    groups: dict[str, NavGroup] = {}
    for item, url in sorted(visible, key=lambda pair: (pair[0].order, pair[0].key)):
        group = groups.get(item.group)
        if group is None:
            label = NAV_GROUPS.get(item.group, (0, item.group))[1]
            group = groups[item.group] = NavGroup(key=item.group, label=label)
        active = best is not None and best[1] == item.key
        group.items.append(NavItem(item.key, item.label, url, item.icon, active))
    return sorted(
        groups.values(),
        key=lambda g: (NAV_GROUPS.get(g.key, (UNKNOWN_GROUP_POSITION, ""))[0], g.key),
    )
