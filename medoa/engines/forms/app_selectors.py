"""Reads of the no-code apps: who sees which app, the menu entries of a user, the builder's list.

An app is seen by the holders of any of its ``roles`` (everyone when it names none) while it is
enabled; the designers (``forms.definition.design``) see every app, to try out what they build.
An app one may not see answers "not found", as a record outside one's scope does.

An app's page lists the records of its form that the viewer's ``forms.record.view`` scope reaches
— or, when the app has ``shared_records`` (a booking calendar: who booked which room when), every
record of its form to everyone who sees the app. That allowance is for the list only: a record
opens (``selectors.record_get``) within the scope as ever, so the page links only those, and the
fields a process hides stay hidden in the list too (``selectors.for_viewer``).

The side navigation asks for a user's apps on every page: the enabled apps are read once per
process and cached for the access-cache TTL (``medoa.core.access.cache.org_fact``; the app services
drop the cache when they change an app), and each user's roles come from the principal the request
has loaded anyway — so the menu costs no query on most pages and one at most.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from medoa.core.access.cache import org_fact
from medoa.core.access.policy import has_perm, principal_of
from medoa.core.registries import MenuLink, process_catalog

from . import selectors
from .apps import PERM_DESIGN
from .errors import FormsNotFound, fmt
from .models import App

MENU_CACHE_KEY = ("forms.apps.menu",)
MENU_GROUP = "apps"


@dataclass(frozen=True)
class MenuApp:
    slug: str
    name: str
    icon: str
    order: int
    roles: frozenset[str]
    url: str


def _menu_apps() -> tuple[MenuApp, ...]:
    def load() -> tuple[MenuApp, ...]:
        rows = App.objects.filter(enabled=True).values_list("slug", "name", "icon", "menu_order", "roles")
        return tuple(
            MenuApp(slug, name, icon, order, frozenset(roles or ()), reverse("forms:app_home", args=[slug]))
            for slug, name, icon, order, roles in rows
        )

    return org_fact(MENU_CACHE_KEY, load)


def role_codes_of(user: Any) -> set[str]:
    principal = principal_of(user) if user is not None and getattr(user, "is_authenticated", False) else None
    return principal.role_codes if principal is not None else set()


def app_menu_links(user: Any) -> list[MenuLink]:
    """The menu provider: one link per enabled app the user's roles see."""
    apps = _menu_apps()
    if not apps:
        return []
    codes = role_codes_of(user)
    return [
        MenuLink(f"forms.app.{app.slug}", app.name, app.url, app.icon, group=MENU_GROUP, order=app.order)
        for app in apps
        if not app.roles or app.roles & codes
    ]


def app_list(*, viewer: Any) -> QuerySet[App]:
    """Every app, for the builder (designers only: others get none)."""
    if not has_perm(viewer, PERM_DESIGN):
        return App.objects.none()
    return App.objects.select_related("form", "form__latest_version").order_by("menu_order", "slug")


def app_get(*, viewer: Any, slug: Any) -> App:
    """The app ``slug`` if the viewer sees it (``FormsNotFound`` otherwise)."""
    app = (
        App.objects.select_related("form", "form__latest_version").filter(slug=slug).first()
        if isinstance(slug, str) and 0 < len(slug) <= 64
        else None
    )
    if app is None or not (has_perm(viewer, PERM_DESIGN) or (app.enabled and sees(viewer, app))):
        raise FormsNotFound(fmt(_("There is no app “%(slug)s”."), {"slug": str(slug)[:64]}), field="slug")
    return app


def sees(viewer: Any, app: App) -> bool:
    return not app.roles or bool(set(app.roles) & role_codes_of(viewer))


def app_new_url(app: App) -> str:
    """Where "New" goes: the process's start page (which shows the start form) for an app with a
    process, the form's fill page otherwise."""
    if app.process_key and "flow" in process_catalog:
        return process_catalog.get("flow").start_url(app.process_key)
    return reverse("forms:form_fill", args=[app.form.key])


def sees_all_records(viewer: Any, app: App) -> bool:
    """Whether the app's page lists every record of its form to ``viewer``: the app shares its
    records and the viewer sees the app."""
    return app.shared_records and (has_perm(viewer, PERM_DESIGN) or (app.enabled and sees(viewer, app)))


@dataclass
class AppRecords:
    page: selectors.RecordPage
    # ids of the page's records the viewer may open (all of them unless the app shares them)
    openable: frozenset[int]


def app_record_list(
    *,
    viewer: Any,
    app: App,
    filters: Mapping[str, Any] | None = None,
    search: str = "",
    page: int = 1,
    page_size: int = selectors.DEFAULT_PAGE_SIZE,
) -> AppRecords:
    """One page of the app's records as its page lists them (see the module's docstring), and
    which of them the viewer may open."""
    shared = sees_all_records(viewer, app)
    found = selectors.record_list(
        viewer=viewer,
        key=app.form.key,
        filters=filters,
        search=search,
        page=page,
        page_size=page_size,
        whole_form=shared,
    )
    ids = [record.pk for record in found.items]
    if shared and ids:
        openable = frozenset(
            selectors.record_visible(viewer=viewer).filter(pk__in=ids).values_list("pk", flat=True)
        )
    else:
        openable = frozenset(ids)
    return AppRecords(page=found, openable=openable)
