"""The event types the approval centre publishes (registered in ``ApprovalsConfig.ready()``)."""

from __future__ import annotations

from datetime import date

from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, Field

from medoa.core.events.registry import EventType, event_types


class LeaveApproved(BaseModel):
    """``approvals.leave.approved``: a leave request was approved; the roster blocks ``dates``."""

    model_config = ConfigDict(extra="forbid")

    request_id: int
    staff: str = Field(..., description="the staff member's username")
    department: str = Field(..., description="the staff member's department code")
    leave_type: str
    start_date: date
    end_date: date
    days: int = Field(..., description="working days")
    dates: list[date] = Field(..., description="the working days blocked (ISO dates)")


class LeaveResumed(LeaveApproved):
    """``approvals.leave.resumed``: 销假 — back at work on ``resumed_on``; ``dates`` are the working
    days given back (the roster may plan them again)."""

    resumed_on: date
    returned_days: int


LEAVE_APPROVED = EventType(
    "approvals.leave.approved",
    LeaveApproved,
    label=_("Leave approved"),
    description=_("A leave request was approved: who, which type, and the working days off."),
    api_publish=False,
)
LEAVE_RESUMED = EventType(
    "approvals.leave.resumed",
    LeaveResumed,
    label=_("Leave cancelled (back at work)"),
    description=_("Someone came back from approved leave early: the working days given back."),
    api_publish=False,
)


def register_event_types() -> None:
    event_types.register(LEAVE_APPROVED)
    event_types.register(LEAVE_RESUMED)
