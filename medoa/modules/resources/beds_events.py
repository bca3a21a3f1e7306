"""The event types the bed board publishes (registered in ``ResourcesConfig.ready()``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict

from medoa.core.events.registry import EventType, event_types


class BedCleaned(BaseModel):
    """``resources.bed.cleaned``: a bed was cleaned after a discharge and is available again."""

    model_config = ConfigDict(extra="forbid")

    bed_id: int
    ward: str
    room: str = ""
    bed: str
    cleaning_id: int
    discharged_at: str
    finished_at: str
    turnaround_seconds: int
    cleaned_by: str = ""


EVENT_TYPES = (
    EventType(
        "resources.bed.cleaned",
        BedCleaned,
        label=_("Bed cleaned"),
        description=_("A bed was cleaned after a discharge and is available again."),
        api_publish=False,
    ),
)


def register_event_types() -> None:
    for event_type in EVENT_TYPES:
        event_types.register(event_type)
