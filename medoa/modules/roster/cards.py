"""The workbench card "My next shifts": the signed-in person's next published shifts."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from .selectors import my_shifts, staff_of

CARD_LIMIT = 5


def my_next_shifts_card(request: HttpRequest) -> dict[str, Any]:
    staff = staff_of(request.user)
    if staff is None:
        return {"shifts": []}
    return {"shifts": my_shifts(staff=staff, start=timezone.localdate(), days=31)[:CARD_LIMIT]}
