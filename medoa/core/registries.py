"""Extension registries that apps fill in ``AppConfig.ready()`` (NetBox's pattern).

An engine or the web shell discovers what is registered here and never names a module. The
registries live in ``core`` so that every layer above may register into them without importing
anything above itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.http import HttpRequest

T = TypeVar("T")


class Registry(Generic[T]):
    """An ordered name → item mapping that refuses silent overwrites."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items and self._items[name] is not item:
            raise ValueError(f"{self.label}: {name!r} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"{self.label}: nothing registered as {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items.values())

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class MenuEntry:
    """A navigation entry of the web shell.

    ``label`` is a lazy translation; ``url_name`` a URL pattern name; ``permission`` a permission
    code the user must hold (``None``: every signed-in user); ``group`` the menu section.
    """

    key: str
    label: Any
    url_name: str
    icon: str = ""
    group: str = "main"
    order: int = 100
    permission: str | None = None


@dataclass(frozen=True)
class WorkbenchCard:
    """A card on the role workbench.

    ``template`` renders the card with the context returned by ``context(request)``; ``roles``
    limits the card to holders of any of these role codes (empty: everyone); ``permission``
    likewise for a permission code.
    """

    key: str
    title: Any
    template: str
    context: Callable[[HttpRequest], dict[str, Any]]
    order: int = 100
    roles: tuple[str, ...] = ()
    permission: str | None = None
    width: str = "half"


@dataclass(frozen=True)
class DemoLoader:
    """Loads one app's part of the demo hospital; ``order`` runs lower numbers first."""

    key: str
    load: Callable[..., None]
    order: int = 100
    depends_on: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class MenuLink:
    """A navigation entry a menu provider computes per user (a no-code app): like ``MenuEntry``
    but with its URL already resolved and no permission (the provider decides who sees it)."""

    key: str
    label: Any
    url: str
    icon: str = ""
    group: str = "main"
    order: int = 100


# A provider is called with the signed-in user and returns the links that user sees. The shell
# calls every provider on every page: a provider must be cheap (one query at most, or cached).
MenuProvider = Callable[[Any], Iterable[MenuLink]]


@dataclass(frozen=True)
class ProcessCatalog:
    """What the process engine tells the layers that may not import it (the form engine's no-code
    apps): ``processes()`` lists ``(key, name)`` of the deployed, active processes;
    ``start_url(key)`` is the page that starts one."""

    processes: Callable[[], list[tuple[str, str]]]
    start_url: Callable[[str], str]


menu: Registry[MenuEntry] = Registry("menu")
menu_providers: Registry[MenuProvider] = Registry("menu providers")
# One entry, "flow", registered by the process engine.
process_catalog: Registry[ProcessCatalog] = Registry("process catalog")
workbench_cards: Registry[WorkbenchCard] = Registry("workbench cards")
demo_loaders: Registry[DemoLoader] = Registry("demo loaders")


@dataclass(frozen=True)
class PeriodicJob:
    """Work the background worker runs every ``every_seconds`` (timers, reminders, retries …).

    ``run()`` must be idempotent and bounded (do a batch, return how many items it handled); the
    worker runs each job in its own transaction-safe call and logs failures without stopping.
    """

    key: str
    run: Callable[[], int]
    every_seconds: float = 5.0


periodic_jobs: Registry[PeriodicJob] = Registry("periodic jobs")
