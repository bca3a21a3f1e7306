"""Settings for the test suite: the test profile with fixed throwaway keys."""

import os
import tempfile
from pathlib import Path

os.environ["MEDOA_ENV"] = "test"
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

from .settings import *  # noqa: F403

# Tests never run collectstatic (WhiteNoise serves from the finders), but WhiteNoise warns about a
# STATIC_ROOT that does not exist: point it at an empty directory that does.
STATIC_ROOT = Path(tempfile.gettempdir()) / "medoa-test-static"
STATIC_ROOT.mkdir(exist_ok=True)

# SQLite tests use a file database, not Django's shared-cache in-memory one: threads (the live
# server of browser tests, the worker's heartbeat and job threads) then wait on the busy timeout
# instead of failing at once with "database table is locked". One file per test process.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    _TEST_DB_DIR = Path(tempfile.gettempdir()) / "medoa-test-db"
    _TEST_DB_DIR.mkdir(exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": str(_TEST_DB_DIR / f"medoa-{os.getpid()}.sqlite3")}  # noqa: F405
