"""Root fixtures: factories of every app, an API client, and Playwright on Debian's chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from medoa.core.access.tokens import api_token_issue
from medoa.core.org.models import Staff
from medoa.core.org.tests.factories import (
    TEST_PASSWORD,
    DepartmentFactory,
    RoleAssignmentFactory,
    RoleFactory,
    StaffFactory,
    UserFactory,
)

SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"


DB_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_setup", "django_db_reset_sequences", "live_server"}
)


def _uses_database(item: Any) -> bool:
    return (
        item.get_closest_marker("django_db") is not None
        or item.get_closest_marker("postgres") is not None
        or not DB_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))
    )


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """``@pytest.mark.postgres`` tests are skipped (with the reason) when the run is on SQLite.
    On PostgreSQL the tests that never touch the database (the solver, parsers, pure functions)
    are deselected: the SQLite run has already run them against the same code, and repeating
    them put ``make test`` over its fifteen minutes."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        keep, dropped = [], []
        for item in items:
            (keep if _uses_database(item) else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL); this run is on SQLite")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


CHROMIUM = os.environ.get("MEDOA_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def shared_data() -> Path:
    """The outside sample data folder (../shared/data); tests skip cleanly where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture
def password() -> str:
    return TEST_PASSWORD


@pytest.fixture
def department_factory(db: Any) -> type[DepartmentFactory]:
    return DepartmentFactory


@pytest.fixture
def staff_factory(db: Any) -> type[StaffFactory]:
    return StaffFactory


@pytest.fixture
def user_factory(db: Any) -> type[UserFactory]:
    return UserFactory


@pytest.fixture
def role_factory(db: Any) -> type[RoleFactory]:
    return RoleFactory


@pytest.fixture
def role_assignment_factory(db: Any) -> type[RoleAssignmentFactory]:
    return RoleAssignmentFactory


@pytest.fixture
def api_as(db: Any) -> Callable[[Staff | None], Client]:
    """``api_as(staff)``: a test client that sends ``Authorization: Bearer …`` with a fresh API token
    of ``staff``'s user (no header for ``None``)."""

    def make(staff: Staff | None) -> Client:
        if staff is None:
            return Client()
        raw, _token = api_token_issue(user=staff.user)
        return Client(headers={"Authorization": f"Bearer {raw}"})

    return make


# --- the test database ----------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _end_stray_sessions(request: pytest.FixtureRequest) -> Iterator[None]:
    """On PostgreSQL, end the connections tests left open to the test database (a live server's
    or a listener's thread, a worker's child process) before Django drops it: otherwise the drop
    fails with "database … is being accessed by other users" and the database is left behind
    (seen now and then in CI). Requests the test database only on PostgreSQL."""
    from django.conf import settings

    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        yield
        return
    request.getfixturevalue("django_db_setup")
    yield
    from django.db import DatabaseError, connection

    blocker = request.getfixturevalue("django_db_blocker")
    try:
        with blocker.unblock(), connection.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
    except DatabaseError:
        pass  # not allowed here: Django's teardown reports what is left, as before


@pytest.fixture(scope="session")
def live_server(live_server: Any) -> Iterator[Any]:
    """pytest-django's live server; when it stops, so does the notification hub its pages' event
    streams started — else the hub's thread outlived the test database and, at the interpreter's
    exit, logged "unable to open database file" into a closed stream ("--- Logging error ---")."""
    yield live_server
    from medoa.core.notify import push

    push.hub_stop()


# --- browser --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _playwright() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        if os.environ.get("CI") == "true":
            pytest.fail(f"Browser tests need Debian's chromium at {CHROMIUM} (scripts/ensure_browser.sh)")
        pytest.skip("chromium is not installed (run scripts/ensure_browser.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(_playwright: Any) -> Iterator[Any]:
    browser = _playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-quic",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
        ],
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
