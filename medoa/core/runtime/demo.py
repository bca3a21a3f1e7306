"""Loading the demo hospital: every app registers a ``DemoLoader`` (``medoa.core.registries``)
and ``run_demo_loaders`` runs them all, in dependency and ``order`` order, in one transaction."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from medoa.core.org.models import Department
from medoa.core.registries import DemoLoader, demo_loaders

from .defaults import DEFAULT_DEMO_PASSWORD

__all__ = ["DEFAULT_DEMO_PASSWORD", "demo_is_loaded", "demo_loader_sequence", "run_demo_loaders"]


def demo_loader_sequence(loaders: list[DemoLoader] | None = None) -> list[DemoLoader]:
    """The loaders in run order: lower ``order`` first, and never before what they depend on."""
    pending = sorted(list(demo_loaders) if loaders is None else loaders, key=lambda d: (d.order, d.key))
    keys = {loader.key for loader in pending}
    for loader in pending:
        missing = [dep for dep in loader.depends_on if dep not in keys]
        if missing:
            raise ImproperlyConfigured(f"demo loader {loader.key!r} depends on unknown loaders {missing}")
    done: list[DemoLoader] = []
    done_keys: set[str] = set()
    while pending:
        ready = next((d for d in pending if set(d.depends_on) <= done_keys), None)
        if ready is None:
            raise ImproperlyConfigured(
                "demo loaders depend on each other in a circle: " + ", ".join(d.key for d in pending)
            )
        pending.remove(ready)
        done.append(ready)
        done_keys.add(ready.key)
    return done


def demo_is_loaded() -> bool:
    """The demo loads into an empty database only: one with departments is left alone."""
    return Department.objects.exists()


@transaction.atomic
def run_demo_loaders(
    *, password: str = DEFAULT_DEMO_PASSWORD, loaders: list[DemoLoader] | None = None
) -> list[str]:
    """Run every registered demo loader (or ``loaders``), all or nothing; return their keys in run
    order. Each loader is called as ``load(password=...)`` and skips what is already there."""
    sequence = demo_loader_sequence(loaders)
    for loader in sequence:
        loader.load(password=password)
    return [loader.key for loader in sequence]
