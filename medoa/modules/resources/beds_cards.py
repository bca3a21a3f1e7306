"""The workbench card of housekeeping: the beds waiting to be cleaned."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .selectors import cleanings_open

CARD_LIMIT = 8


def cleaning_card(request: HttpRequest) -> dict[str, Any]:
    cleanings = cleanings_open(user=request.user)
    return {"cleanings": cleanings[:CARD_LIMIT], "total": len(cleanings)}
