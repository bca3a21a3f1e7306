"""The event types the roster module publishes, registered in ``RosterConfig.ready()``."""

from __future__ import annotations

from datetime import date

from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, Field

from medoa.core.events.registry import EventType, event_types


class RosterPublished(BaseModel):
    """``roster.roster.published``: a ward's monthly roster was published (again)."""

    model_config = ConfigDict(extra="forbid")

    roster: int
    ward: str = Field(..., description="the ward's department code")
    month: date = Field(..., description="the first day of the month")
    version: int
    staff: list[str] = Field(default_factory=list, description="usernames of the staff on it")


ROSTER_PUBLISHED = EventType(
    "roster.roster.published",
    RosterPublished,
    label=_("Roster published"),
    description=_("A ward's monthly roster was published: the ward, the month, its version and its staff."),
    api_publish=False,
)


def register_event_types() -> None:
    event_types.register(ROSTER_PUBLISHED)
