"""请假 Leave: the request type, its data, days, balance check and routing facts.

Routing (``processes/leave.bpmn``): the head nurse for nursing staff (holders of ``nurse`` or
``head_nurse``), the department head for everyone else; more than 3 working days → then 护理部
for nursing staff, and the vice dean in charge; more than 15 → then the dean; 人事处 is copied.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any, Literal

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, Field

from medoa.core.org.models import RoleAssignment, Staff
from medoa.core.org.selectors import department_root, leader_above, role_members

from .. import selectors, services
from ..catalog import PACKAGE_DIR, RequestType
from ..choices import LeaveType
from ..errors import ApprovalInputError, fmt
from ..workdays import working_days

NURSING_ROLES = ("nurse", "head_nurse")
LEADER_ROLES = ("dean", "vice_dean")
MAX_SPAN_DAYS = 400


class LeaveData(BaseModel):
    """The API's ``data`` for ``"type": "leave"``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    leave_type: Literal[
        "annual", "sick", "personal", "marriage", "maternity", "bereavement", "compensatory"
    ] = Field(
        ...,
        description="annual 年假, sick 病假, personal 事假, marriage 婚假, maternity 产假, "
        "bereavement 丧假, compensatory 调休",
    )
    start_date: datetime.date = Field(..., description="first day of leave, YYYY-MM-DD")
    end_date: datetime.date = Field(..., description="last day of leave, YYYY-MM-DD")
    reason: str = Field(..., min_length=1, max_length=500)
    attachments: list[str] = Field(
        default_factory=list,
        max_length=10,
        description="form attachment ids (POST /api/v1/forms/attachments); required for sick leave",
    )


def is_nursing_staff(staff: Staff) -> bool:
    return RoleAssignment.objects.filter(staff=staff, role__code__in=NURSING_ROLES).exists()


def vice_dean_in_charge(staff: Staff) -> list[str]:
    """The username of the first leader above ``staff`` who is a vice dean (分管院长); when the
    tree names none, every vice dean (they are candidates)."""
    for level in range(1, 7):
        leader = leader_above(staff, level)
        if leader is None:
            break
        if (
            leader.pk != staff.pk
            and RoleAssignment.objects.filter(staff=leader, role__code="vice_dean").exists()
        ):
            return [leader.user.username]
    root = department_root()
    if root is None:
        return []
    return [s.user.username for s in role_members("vice_dean", root) if s.pk != staff.pk]


def leave_type_label(code: str) -> str:
    return str(LeaveType(code).label)


def prepare(initiator: Staff, data: dict[str, Any]) -> dict[str, Any]:
    start = datetime.date.fromisoformat(data["start_date"])
    end = datetime.date.fromisoformat(data["end_date"])
    leave_type = data["leave_type"]
    if end < start:
        raise ApprovalInputError("end_date", _("The last day of leave must not be before the first."))
    if (end - start).days >= MAX_SPAN_DAYS:
        raise ApprovalInputError(
            "end_date",
            fmt(_("A leave request covers at most %(days)s calendar days."), {"days": MAX_SPAN_DAYS}),
        )
    days = working_days(start, end)
    if days == 0:
        raise ApprovalInputError(
            "end_date",
            _("There is no working day in this period (weekends and public holidays are not counted)."),
        )
    if leave_type == LeaveType.SICK and not data.get("attachments"):
        raise ApprovalInputError("attachments", _("Sick leave needs a medical certificate attached."))
    clash = selectors.overlapping_leave(initiator, start, end)
    if clash is not None:
        raise ApprovalInputError(
            "start_date",
            fmt(
                _("You already asked for leave from %(start)s to %(end)s (%(number)s)."),
                {"start": clash.start_date, "end": clash.end_date, "number": clash.request.number},
            ),
        )
    services.leave_check_available(initiator, leave_type, start.year, Decimal(days))
    vice = vice_dean_in_charge(initiator)
    return {
        "leave_type": leave_type,
        "leave_type_label": leave_type_label(leave_type),
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "days": days,
        "year": start.year,
        "reason": data["reason"],
        "is_nursing": is_nursing_staff(initiator),
        "is_leader": RoleAssignment.objects.filter(staff=initiator, role__code__in=LEADER_ROLES).exists(),
        "vice_dean": vice,
    }


def summary(data: dict[str, Any]) -> str:
    start = datetime.date.fromisoformat(data["start_date"])
    end = datetime.date.fromisoformat(data["end_date"])
    days = data.get("days")
    if days is None:
        days = working_days(start, end)
    return gettext("%(type)s %(days)s days %(start)s~%(end)s") % {
        "type": leave_type_label(data["leave_type"]),
        "days": days,
        "start": start.strftime("%m-%d"),
        "end": end.strftime("%m-%d"),
    }


LEAVE = RequestType(
    key="leave",
    name=_("Leave"),
    category=_("Personnel"),
    process_key="leave",
    bpmn=PACKAGE_DIR / "processes" / "leave.bpmn",
    form_key="leave",
    data_schema=LeaveData,
    prepare=prepare,
    summary=summary,
    icon="calendar",
    order=10,
    keywords=("请假", "休假", "年假", "病假", "事假", "婚假", "产假", "丧假", "调休", "leave", "holiday"),
    description=_("Annual, sick, personal, marriage, maternity, bereavement or compensatory leave."),
    on_finish=services.leave_finished,
    copy_roles=("hr",),
)
