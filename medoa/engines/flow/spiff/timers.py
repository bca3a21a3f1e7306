"""Timer text as Camunda Modeler writes it, turned into what our engine evaluates.

Camunda writes ISO 8601 bare (``PT1H``, ``2026-05-01T09:00:00``, ``R3/PT10M``) or as an expression
(``${dueDate}``); SpiffWorkflow evaluates the text as an expression. :func:`normalize_timer` quotes
a bare ISO value, unwraps ``${…}`` and refuses cron with a precise message.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django.utils.translation import gettext_noop

from .specs import duration_from, parse_cycle, parse_instant, unwrap
from .types import Msg

TIMER_KINDS = ("timeDate", "timeDuration", "timeCycle")

_WRAPPED = re.compile(r"^\s*[$#]\{.*\}\s*$", re.S)
# Quartz/Unix cron: 5 to 7 whitespace-separated fields of digits, * ? / , - L W # and names.
_CRON = re.compile(r"^[\w*?/,#-]+(\s+[\w*?/,#-]+){4,6}$")
# Text made only of ISO 8601 characters (with at least one digit) is meant as an ISO literal.
_ISO_CHARS = re.compile(r"^[0-9RPTWYMDHSZ:/+\-.,]+$", re.I)


class TimerTextError(ValueError):
    """Timer text that cannot work: ``msgid`` (English, marked for translation) and ``params``."""

    def __init__(self, msgid: str, **params: Any) -> None:
        self.msgid = msgid
        self.params = params
        super().__init__(msgid % params if params else msgid)


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
        raise TimerTextError(gettext_noop("empty %(kind)s"), kind=kind)
    if _WRAPPED.match(t):
        inner = unwrap(t) or ""
        if not inner:
            raise TimerTextError(gettext_noop("empty expression in %(kind)s"), kind=kind)
        return inner, False
    if _CRON.match(t) and any(c in t for c in "*?"):
        raise TimerTextError(
            gettext_noop(
                "%(kind)s '%(value)s' is a cron expression; cron is not supported: "
                "use an ISO 8601 repeating interval such as R/2026-01-05T08:00:00+08:00/P1D"
            ),
            kind=kind,
            value=t,
        )
    if iso_literal(t, kind):
        return repr(t), True
    if _ISO_CHARS.match(t) and any(c.isdigit() for c in t):
        raise TimerTextError(
            gettext_noop("%(kind)s '%(value)s' is not a valid ISO 8601 %(what)s"),
            kind=kind,
            value=t,
            what=Msg(_KIND_NAMES[kind]),
        )
    return t, False


_KIND_NAMES = {
    "timeDate": gettext_noop("date-time (e.g. 2026-05-01T09:00:00+08:00)"),
    "timeDuration": gettext_noop("duration (e.g. PT2H, P3D)"),
    "timeCycle": gettext_noop("repeating interval (e.g. R3/PT1H)"),
}
