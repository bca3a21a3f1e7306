from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class RequestStatus(models.TextChoices):
    SUBMITTED = "submitted", _("In approval")
    APPROVED = "approved", pgettext_lazy("request status", "Approved")
    REJECTED = "rejected", pgettext_lazy("request status", "Rejected")
    WITHDRAWN = "withdrawn", pgettext_lazy("request status", "Withdrawn")
    CANCELLED = "cancelled", pgettext_lazy("request status", "Cancelled")


class LeaveType(models.TextChoices):
    ANNUAL = "annual", _("Annual leave")
    SICK = "sick", _("Sick leave")
    PERSONAL = "personal", _("Personal leave")
    MARRIAGE = "marriage", _("Marriage leave")
    MATERNITY = "maternity", _("Maternity leave")
    BEREAVEMENT = "bereavement", _("Bereavement leave")
    COMPENSATORY = "compensatory", _("Compensatory leave")


class HolidayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Public holiday (day off)")
    WORKDAY = "workday", _("Make-up working day")


class LedgerKind(models.TextChoices):
    GRANT = "grant", _("Granted")
    ADJUST = "adjust", _("Adjusted")
    DEDUCT = "deduct", _("Taken (approved leave)")
    RETURN = "return", _("Returned (cancel-leave)")
