"""Timer text as Camunda Modeler writes it, turned into what our engine evaluates.

Camunda writes ISO 8601 bare (``PT1H``, ``2026-05-01T09:00:00``, ``R3/PT10M``) or as an expression
(``${dueDate}``); SpiffWorkflow evaluates the text as an expression. :func:`normalize_timer` quotes
a bare ISO value, unwraps ``${…}`` and refuses cron with a precise message.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .specs import duration_from, parse_cycle, parse_instant, unwrap

TIMER_KINDS = ("timeDate", "timeDuration", "timeCycle")

_WRAPPED = re.compile(r"^\s*[$#]\{.*\}\s*$", re.S)
# Quartz/Unix cron: 5 to 7 whitespace-separated fields of digits, * ? / , - L W # and names.
_CRON = re.compile(r"^[\w*?/,#-]+(\s+[\w*?/,#-]+){4,6}$")
# Text made only of ISO 8601 characters (with at least one digit) is meant as an ISO literal.
_ISO_CHARS = re.compile(r"^[0-9RPTWYMDHSZ:/+\-.,]+$", re.I)


class TimerTextError(ValueError):
    pass


def iso_literal(text: str, kind: str) -> bool:
    """True when ``text`` is a valid ISO 8601 value for this timer kind."""
    try:
        if kind == "timeCycle":
            parse_cycle(text, datetime.now(UTC))
        elif kind == "timeDuration":
            duration_from(text, datetime.now(UTC))
        else:
            parse_instant(text)
    except Exception:
        return False
    return True


def normalize_timer(text: str | None, kind: str) -> tuple[str, bool]:
    """(expression for our evaluator, whether the text was an ISO literal).

    Raises :class:`TimerTextError` for empty text, cron, and malformed ISO 8601.
    """
    t = (text or "").strip()
    if not t:
        raise TimerTextError(f"empty {kind}")
    if _WRAPPED.match(t):
        inner = unwrap(t) or ""
        if not inner:
            raise TimerTextError(f"empty expression in {kind}")
        return inner, False
    if _CRON.match(t) and any(c in t for c in "*?"):
        raise TimerTextError(
            f"{kind} {t!r} is a cron expression; cron is not supported: "
            "use an ISO 8601 repeating interval such as R/2026-01-05T08:00:00+08:00/P1D"
        )
    if iso_literal(t, kind):
        return repr(t), True
    if _ISO_CHARS.match(t) and any(c.isdigit() for c in t):
        raise TimerTextError(f"{kind} {t!r} is not a valid ISO 8601 {_KIND_NAMES[kind]}")
    return t, False


_KIND_NAMES = {
    "timeDate": "date-time (e.g. 2026-05-01T09:00:00+08:00)",
    "timeDuration": "duration (e.g. PT2H, P3D)",
    "timeCycle": "repeating interval (e.g. R3/PT1H)",
}
