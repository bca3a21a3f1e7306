"""Workbench cards this app registers (see ``OrgConfig.ready``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from medoa.core.access.cache import access_cache_forget_user_data, user_data_get
from medoa.core.access.policy import principal_of

from .models import Delegation, Staff
from .selectors import delegations_current

# The card's rows are kept per user for MEDOA_ACCESS_CACHE_SECONDS (medoa.core.access.cache):
# delegation_create and delegation_revoke drop both parties' rows in this process; elsewhere a
# new or revoked delegation shows within that many seconds.
DELEGATIONS_CARD_CACHE = "org.delegations_card"


def delegations_card_forget(*staff: Staff) -> None:
    """Drop the cached "my delegations" rows of these people (their delegations changed)."""
    for person in staff:
        access_cache_forget_user_data(DELEGATIONS_CARD_CACHE, person.user_id)


def delegations_card_context(request: HttpRequest) -> dict[str, Any]:
    """ "My delegations": the caller's delegations given and received that are active or upcoming
    (one query, none while cached)."""
    principal = principal_of(request.user)
    if principal is None or principal.staff is None:
        return {"given": [], "received": []}
    staff = principal.staff

    def load() -> tuple[list[Delegation], list[Delegation]]:
        return delegations_current(staff=staff)

    given, received = user_data_get(DELEGATIONS_CARD_CACHE, principal.user_id, load)
    return {"given": given, "received": received}
