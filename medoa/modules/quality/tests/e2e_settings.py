"""Settings for the ``medoa mllp`` subprocess of the end-to-end test: the test settings, on the
test's SQLite file (``MEDOA_E2E_SQLITE``) with the embedded profile's options (WAL, busy timeout,
``BEGIN IMMEDIATE``), which a ``DATABASE_URL`` would not give; PostgreSQL comes by ``DATABASE_URL``."""

import os

from medoa.config.settings_test import *  # noqa: F403

if os.environ.get("MEDOA_E2E_SQLITE"):
    DATABASES["default"]["NAME"] = os.environ["MEDOA_E2E_SQLITE"]  # noqa: F405
