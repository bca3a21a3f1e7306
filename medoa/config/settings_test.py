"""Settings for the test suite: the test profile with fixed throwaway keys."""

import os

os.environ["MEDOA_ENV"] = "test"
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

from .settings import *  # noqa: F403
