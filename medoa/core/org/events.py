"""The event types of the organisation (staff and their qualifications), registered in
``OrgConfig.ready()``."""

from __future__ import annotations

from datetime import date

from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, Field

from medoa.core.events.registry import EventType, event_types


class CertificateExpiring(BaseModel):
    """``hr.certificate.expiring``: a staff member's certificate (licence, 执业证书, BLS/ACLS …)
    runs out on ``expires_on``. Published by HR systems through the API and by the daily check."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    staff: str = Field(..., min_length=1, max_length=150, description="the staff member's username")
    certificate: str = Field(..., min_length=1, max_length=200, description="the certificate's name")
    expires_on: date = Field(..., description="YYYY-MM-DD")


CERTIFICATE_EXPIRING = EventType(
    "hr.certificate.expiring",
    CertificateExpiring,
    label=_("Staff certificate expiring"),
    description=_("A staff member's certificate expires soon: who, which certificate, and when."),
)


def register_event_types() -> None:
    event_types.register(CERTIFICATE_EXPIRING)
