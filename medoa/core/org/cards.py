"""Workbench cards this app registers (see ``OrgConfig.ready``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from medoa.core.access.policy import principal_of

from .selectors import delegations_current


def delegations_card_context(request: HttpRequest) -> dict[str, Any]:
    """ "My delegations": the caller's delegations given and received that are active or upcoming."""
    principal = principal_of(request.user)
    if principal is None or principal.staff is None:
        return {"given": [], "received": []}
    given, received = delegations_current(staff=principal.staff)
    return {"given": given, "received": received}
