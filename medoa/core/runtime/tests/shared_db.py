"""Data loaded once per test module and rolled back at its end.

Loading the whole demo hospital takes seconds; tests that only read it (or change it inside their
own savepoint) can share one load. ``module_data(load)`` makes a module-scoped fixture that opens
an outer transaction, calls ``load()`` and yields its result; every test that asks for it also
gets the usual ``db`` fixture, whose per-test atomic block is a savepoint inside the outer
transaction, so a test's own writes still vanish after it. The outer transaction is rolled back
when the module ends: nothing reaches the other modules of the worker.

Only for ``db`` tests: a ``transactional_db`` or ``live_server`` test cannot run inside an open
transaction. A module that uses it should hold no other database test, since a test that does not
ask for the fixture but runs after one that did still sees the data until the module ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from django.db import transaction

T = TypeVar("T")


def module_data(load: Callable[[], T], *, name: str) -> tuple[Any, Any]:
    """Two fixtures to bind in a test module (one pair per module): ``module_data_once`` (module
    scope: ``load()`` in an outer transaction, rolled back at the end) and ``<name>`` (per test:
    that result, with ``db`` — which also tells pytest-django to create the test database)."""

    @pytest.fixture(scope="module", name="module_data_once")
    def _outer(django_db_setup: Any, django_db_blocker: Any) -> Iterator[T]:
        with django_db_blocker.unblock():
            atomic = transaction.atomic()
            atomic.__enter__()
            try:
                yield load()
            finally:
                transaction.set_rollback(True)
                atomic.__exit__(None, None, None)

    @pytest.fixture(name=name)
    def _per_test(module_data_once: T, db: Any) -> T:
        return module_data_once

    return _outer, _per_test
