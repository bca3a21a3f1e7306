"""Extension registries that apps fill in ``AppConfig.ready()`` (NetBox's pattern).

An engine or the web shell discovers what is registered here and never names a module. The
registries live in ``core`` so that every layer above may register into them without importing
anything above itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


menu: Registry[MenuEntry] = Registry("menu")
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
