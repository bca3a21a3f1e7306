"""出差 Business trip: destination, purpose, dates, transport, estimated cost.

Routing (``processes/business_trip.bpmn``): the department head (``leader:1``); more than 5
calendar days or abroad → then the vice dean.
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pydantic import Field, field_validator

from ..catalog import RequestType
from ._common import (
    Data,
    as_number,
    bpmn_path,
    cents,
    check_cents,
    date_range,
    engine_key,
    money,
    vice_deans_for,
)

KEY = "business_trip"
LONG_TRIP_DAYS = 5


class BusinessTripData(Data):
    """The API's ``data`` for ``"type": "business_trip"``."""

    destination: str = Field(..., min_length=1, max_length=100, description="city / institution")
    abroad: bool = Field(False, description="outside the mainland (incl. Hong Kong, Macao, Taiwan)")
    purpose: str = Field(..., min_length=2, max_length=1000)
    start_date: datetime.date = Field(..., description="first day, YYYY-MM-DD")
    end_date: datetime.date = Field(..., description="last day, YYYY-MM-DD")
    transport: Literal["train", "plane", "car", "ship", "other"]
    estimated_cost: float = Field(..., ge=0, le=10_000_000, description="yuan, at most 2 decimals")
    attachment: list[str] = Field(default_factory=list, max_length=10, description="form attachment ids")

    _cents = field_validator("estimated_cost")(check_cents)


def prepare(initiator: Any, data: dict[str, Any]) -> dict[str, Any]:
    start, end = date_range(data)
    return {
        "days": (end - start).days + 1,
        "abroad": bool(data.get("abroad")),
        "estimated_cost": as_number(cents(data["estimated_cost"])),
        "vice_dean": vice_deans_for(initiator),
    }


def summary(data: dict[str, Any]) -> str:
    start, end = date_range(data)
    return gettext("Business trip %(destination)s %(days)s days %(start)s~%(end)s %(cost)s") % {
        "destination": data["destination"],
        "days": (end - start).days + 1,
        "start": start.strftime("%m-%d"),
        "end": end.strftime("%m-%d"),
        "cost": money(data["estimated_cost"]),
    }


BUSINESS_TRIP = RequestType(
    key=KEY,
    name=_("Business trip"),
    category=_("Administrative affairs"),
    process_key=engine_key(KEY),
    bpmn=bpmn_path(KEY),
    form_key=engine_key(KEY),
    data_schema=BusinessTripData,
    prepare=prepare,
    summary=summary,
    icon="plane",
    order=30,
    keywords=("出差", "差旅", "出行", "business trip", "travel"),
    description=_("A trip on hospital business: department head; more than 5 days or abroad, the vice dean."),
)
