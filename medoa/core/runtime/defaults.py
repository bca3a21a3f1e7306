"""Defaults shared by the ``medoa`` command and the runtime (importable before Django is set up)."""

DEFAULT_DEMO_PASSWORD = "Medoa@2026"
HEARTBEAT_SECONDS = 10.0
