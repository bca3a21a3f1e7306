"""What modules register with the report engine: datasets, KPI providers and daily-fact sources.

Each app may ship a ``reporting.py`` with a function ``register(site)``; the engine imports it by
name at ``ready()`` (``autodiscover_modules("reporting")``) and calls it with :data:`site`. The
function only needs the methods of :class:`Site` (duck typing), so ``core`` apps register without
importing the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db.models import QuerySet

from medoa.core.registries import Registry

KINDS = ("dimension", "measure", "time")


@dataclass(frozen=True)
class Field:
    """A column of a dataset, addressed by its registered ``name`` only.

    ``path`` is the ORM lookup path; ``duration`` (end path, start path) makes a measure whose value
    is the number of seconds between two timestamps. ``choices`` labels category values.
    """

    name: str
    kind: str
    label_zh: str
    label_en: str
    path: str = ""
    duration: tuple[str, str] | None = None
    choices: dict[Any, Any] = field(default_factory=dict)
    boolean: bool = False

    def label(self, lang: str = "zh") -> str:
        return self.label_zh if lang.startswith("zh") else self.label_en


@dataclass(frozen=True)
class Dataset:
    """A queryable set of rows.

    ``queryset()`` returns the base rows; ``department_path`` is the ORM path to the id of the
    row's ``org.Department`` (a column or an annotation; used for row-level access and the
    ``department`` dimension);
    ``permission`` the access permission whose data scope narrows the rows.
    """

    key: str
    label_zh: str
    label_en: str
    queryset: Callable[[], QuerySet[Any]]
    fields: tuple[Field, ...]
    department_path: str | None = "department_id"
    permission: str = "reports.data.view"
    record_url: Callable[[Any], str] | None = None
    record_fields: tuple[str, ...] = ()

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def label(self, lang: str = "zh") -> str:
        return self.label_zh if lang.startswith("zh") else self.label_en


@dataclass(frozen=True)
class KpiContext:
    """The period ``[start, end)`` (aware datetimes, local midnights), the days, and the
    departments the figure covers (``None``: the whole hospital)."""

    start: Any
    end: Any
    day_from: Any
    day_to: Any
    department_ids: frozenset[int] | None

    @property
    def days(self) -> int:
        return int((self.day_to - self.day_from).days) + 1


@dataclass(frozen=True)
class Kpi:
    """A hospital key figure: ``compute(ctx)`` returns a number or ``None`` (no data)."""

    key: str
    label_zh: str
    label_en: str
    compute: Callable[[KpiContext], float | None]
    unit: str = ""
    formula: str = ""
    order: int = 100
    drill_dataset: str = ""


@dataclass(frozen=True)
class FactSource:
    """Fills daily facts: ``compute(day_from, day_to)`` returns ``(day, department_id, key, value)``
    tuples for every day of the inclusive range (missing tuples mean 0)."""

    key: str
    keys: tuple[str, ...]
    compute: Callable[[Any, Any], list[tuple[Any, int | None, str, float]]]


@dataclass(frozen=True)
class DurationSource:
    """Feeds ``DurationFact``: ``rows(day_from, day_to)`` returns a queryset whose rows are
    ``series``, ``source_id``, ``day`` (local), ``department_id``, ``end``, ``start`` (timestamps)
    for the source rows ending on those days; ``prefix`` is the start of every series it makes."""

    key: str
    prefix: str
    rows: Callable[[Any, Any], QuerySet[Any]]


datasets: Registry[Dataset] = Registry("report datasets")
duration_sources: Registry[DurationSource] = Registry("report duration sources")
kpis: Registry[Kpi] = Registry("report KPIs")
fact_sources: Registry[FactSource] = Registry("report fact sources")


class Site:
    """The object handed to each app's ``reporting.register(site)``."""

    def field(self, name: str, kind: str, label_zh: str, label_en: str, **kwargs: Any) -> Field:
        """``choices`` may be a ``TextChoices``/``IntegerChoices`` class: its values labelled."""
        if kind not in KINDS:
            raise ValueError(f"field {name!r}: kind must be one of {KINDS}")
        if isinstance(kwargs.get("choices"), type):
            kwargs["choices"] = {c.value: c.label for c in kwargs["choices"]}  # lazy: the reader's language
        return Field(name, kind, label_zh, label_en, **kwargs)

    def dataset(self, key: str, label_zh: str, label_en: str, **kwargs: Any) -> Dataset:
        fields = tuple(kwargs.pop("fields"))
        ds = Dataset(key, label_zh, label_en, fields=fields, **kwargs)
        return datasets.register(key, ds)

    def kpi(self, key: str, label_zh: str, label_en: str, compute: Callable[..., Any], **kwargs: Any) -> Kpi:
        """``compute(ctx, helpers)``: the provider is handed :attr:`helpers` with the context."""
        helpers = self.helpers
        return kpis.register(key, Kpi(key, label_zh, label_en, lambda ctx: compute(ctx, helpers), **kwargs))

    def facts(self, key: str, keys: tuple[str, ...], compute: Callable[..., Any]) -> FactSource:
        return fact_sources.register(key, FactSource(key, keys, compute))

    def durations(
        self,
        key: str,
        prefix: str,
        queryset: Callable[[], QuerySet[Any]],
        *,
        series: str,
        end: str,
        start: str,
        department: str = "department_id",
    ) -> DurationSource:
        """Duration facts of the rows of ``queryset()`` whose ``end`` falls on the days refreshed:
        series ``prefix`` + the row's ``series`` path, seconds from ``start`` to ``end``, the
        department at the ``department`` path (see ``helpers.duration_rows``)."""
        rows = partial(
            self.helpers.duration_rows,
            queryset,
            prefix=prefix,
            series=series,
            end=end,
            start=start,
            department=department,
        )
        return duration_sources.register(key, DurationSource(key, prefix, rows))

    # helpers the providers use (so they need not import the engine)
    @property
    def helpers(self) -> Any:
        from . import helpers

        return helpers


site = Site()


def discover() -> None:
    """Import every app's ``reporting`` module (``autodiscover_modules``) and call its
    ``register(site)`` once."""
    import sys

    from django.apps import apps
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("reporting")
    for config in apps.get_app_configs():
        module = sys.modules.get(f"{config.name}.reporting")
        register = getattr(module, "register", None)
        if callable(register) and not getattr(module, "_medoa_reports_registered", False):
            register(site)
            module._medoa_reports_registered = True  # type: ignore[union-attr]
