"""Workbench cards this app registers (see ``OrgConfig.ready``)."""

from __future__ import annotations

import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from medoa.core.access.cache import access_cache_forget_user_data, user_data_get
from medoa.core.access.policy import principal_of

from .models import Delegation, Staff, StaffCertificate
from .selectors import certificate_list_for_staff, delegations_current

# The card's rows are kept per user for MEDOA_ACCESS_CACHE_SECONDS (medoa.core.access.cache):
# delegation_create and delegation_revoke drop both parties' rows in this process; elsewhere a
# new or revoked delegation shows within that many seconds.
DELEGATIONS_CARD_CACHE = "org.delegations_card"
# "My certificates" likewise: certificate_add / _update / _remove drop the holder's rows.
CERTIFICATES_CARD_CACHE = "org.certificates_card"
# The card marks certificates that expire within this many days (the daily check's window).
CERTIFICATE_SOON_DAYS = 30


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


def certificates_card_forget(*staff: Staff) -> None:
    """Drop the cached "my certificates" rows of these people (their certificates changed)."""
    for person in staff:
        access_cache_forget_user_data(CERTIFICATES_CARD_CACHE, person.user_id)


def certificates_card_context(request: HttpRequest) -> dict[str, Any]:
    """ "My certificates": the caller's certificates, soonest to expire first, the ones due within
    30 days or lapsed marked (one indexed query, none while cached)."""
    principal = principal_of(request.user)
    if principal is None or principal.staff is None:
        return {"certificates": [], "staff": None, "soon": None, "today": None}
    staff = principal.staff

    def load() -> list[StaffCertificate]:
        return certificate_list_for_staff(user=request.user, staff=staff)

    certificates = user_data_get(CERTIFICATES_CARD_CACHE, principal.user_id, load)
    today = timezone.localdate()
    return {
        "certificates": certificates,
        "staff": staff,
        "today": today,
        "soon": today + datetime.timedelta(days=CERTIFICATE_SOON_DAYS),
    }
