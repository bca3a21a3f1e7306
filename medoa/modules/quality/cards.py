"""The workbench card "My critical values": the active alerts sent to the signed-in user."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .selectors import my_active_alerts


def my_critical_values_card(request: HttpRequest) -> dict[str, Any]:
    return {"critical_alerts": my_active_alerts(request.user)}
