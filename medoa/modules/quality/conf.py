"""The critical-value loop's settings (Django settings, else environment variables):

- ``MEDOA_CRITICAL_ACK_MINUTES`` (default 10): minutes the responsible doctor has to acknowledge
  when no ``CriticalValueLimit`` row applies; fractions allowed (tests use a few seconds).
- ``MEDOA_CRITICAL_ESCALATE_MINUTES`` (default 10): minutes after the escalation to the department
  head before 医务处 (medical_affairs) is told, likewise.
- ``MEDOA_CRITICAL_ESCALATION_SECONDS`` (default 5): how often the worker looks for due escalations.
"""

from __future__ import annotations

import os

from django.conf import settings

DEFAULT_ACK_MINUTES = 10.0
DEFAULT_ESCALATE_MINUTES = 10.0
DEFAULT_JOB_SECONDS = 5.0


def _number(name: str, default: float) -> float:
    raw: object = getattr(settings, name, None)
    if raw is None:
        raw = os.environ.get(name, default)
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def ack_seconds() -> int:
    return max(1, round(_number("MEDOA_CRITICAL_ACK_MINUTES", DEFAULT_ACK_MINUTES) * 60))


def escalate_seconds() -> int:
    return max(1, round(_number("MEDOA_CRITICAL_ESCALATE_MINUTES", DEFAULT_ESCALATE_MINUTES) * 60))


def job_seconds() -> float:
    return _number("MEDOA_CRITICAL_ESCALATION_SECONDS", DEFAULT_JOB_SECONDS)
