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
