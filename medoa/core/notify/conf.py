"""The notification centre's deployment settings, read when first needed (never at import).

Each setting is a Django setting of the same name when one is defined (tests use
``override_settings``), else the environment variable of that name:

- ``MEDOA_NOTIFY_CHANNELS``: the outside channels this deployment offers, comma-separated, from
  ``email``, ``sms``, ``im`` (default: none; in-app is always on).
- ``MEDOA_NOTIFY_SMS_URL`` / ``MEDOA_NOTIFY_SMS_SECRET``: the SMS gateway that takes
  ``{"phone", "text"}`` as JSON; with a secret, the body is signed (``X-MedOA-Signature``).
- ``MEDOA_NOTIFY_IM_URL`` / ``MEDOA_NOTIFY_IM_SECRET`` / ``MEDOA_NOTIFY_IM_STYLE``: the IM robot
  webhook, in ``dingtalk``, ``wecom`` or ``generic`` style (see ``channels.py``).
- ``MEDOA_NOTIFY_TIMEOUT``: seconds an outside gateway may take (default 5).
- ``MEDOA_NOTIFY_STREAM_SLOTS``: live browser streams one threaded (WSGI) web process holds at
  once (default 2); later browsers are told to poll. An ASGI server has no such limit.
- ``MEDOA_NOTIFY_STREAM_HOLD``: seconds one WSGI stream stays open before the browser reconnects
  (default 25); ``MEDOA_NOTIFY_POLL_SECONDS``: how often a web process looks for new
  notifications where the database cannot announce them (SQLite; default 0.2).
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

OUTSIDE_CHANNELS = ("email", "sms", "im")


def setting(name: str, default: Any = "") -> Any:
    if hasattr(settings, name):
        return getattr(settings, name)
    return os.environ.get(name, default)


def enabled_channels() -> tuple[str, ...]:
    """The outside channels this deployment offers, in a fixed order."""
    raw = setting("MEDOA_NOTIFY_CHANNELS", "")
    names = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    wanted = {str(n).strip() for n in names if str(n).strip()}
    unknown = wanted - set(OUTSIDE_CHANNELS)
    if unknown:
        raise ImproperlyConfigured(
            f"MEDOA_NOTIFY_CHANNELS: unknown channel(s) {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(OUTSIDE_CHANNELS)}"
        )
    return tuple(c for c in OUTSIDE_CHANNELS if c in wanted)


def number(name: str, default: float) -> float:
    try:
        return float(setting(name, default))
    except (TypeError, ValueError):
        return default
