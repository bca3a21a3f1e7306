"""采购 Procurement: items (quantity × unit price), budget code, computed total.

Routing (``processes/procurement.bpmn``): 设备科 (``equipment``), 财务处 (``finance``) and the vice
dean countersign in parallel (会签, all must approve); a total above the leadership-meeting
threshold (``MEDOA_APPROVALS_PROCUREMENT_MEETING_THRESHOLD``, default 200,000 yuan) goes on to
院长办公会 (the ``dean``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, Field, field_validator

from medoa.core.org.models import Staff

from ..catalog import RequestType
from ..errors import ApprovalInputError, fmt
from ._common import (
    Data,
    as_number,
    bpmn_path,
    cents,
    check_cents,
    engine_key,
    money,
    setting,
)
from .leave import vice_dean_in_charge

KEY = "procurement"
COUNTERSIGN_ROLES = ("equipment", "finance", "vice_dean")
DEFAULT_MEETING_THRESHOLD = 200_000
MAX_TOTAL = Decimal("10000000000")


class ProcurementItem(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(..., min_length=1, max_length=100)
    spec: str = Field("", max_length=100, description="specification / model")
    quantity: int = Field(..., ge=1, le=100_000)
    unit_price: float = Field(..., ge=0.01, le=100_000_000, description="yuan, at most 2 decimals")

    _cents = field_validator("unit_price")(check_cents)


class ProcurementData(Data):
    """The API's ``data`` for ``"type": "procurement"``."""

    budget_code: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{1,31}$")
    reason: str = Field(..., min_length=2, max_length=2000)
    items: list[ProcurementItem] = Field(..., min_length=1, max_length=200)
    attachment: list[str] = Field(default_factory=list, max_length=10, description="form attachment ids")


def total_of(data: dict[str, Any]) -> Decimal:
    return sum(
        (cents(cents(item["unit_price"]) * int(item["quantity"])) for item in data.get("items") or ()),
        Decimal("0.00"),
    )


def meeting_threshold() -> Decimal:
    return cents(setting("MEDOA_APPROVALS_PROCUREMENT_MEETING_THRESHOLD", DEFAULT_MEETING_THRESHOLD))


def countersigner(code: str, initiator: Staff) -> dict[str, list[str]]:
    """One countersign share: an office's role, or the initiator's vice dean in charge (the dean
    when the initiator is the only vice dean: nobody countersigns their own purchase)."""
    if code != "vice_dean":
        return {"role": [code], "users": []}
    in_charge = vice_dean_in_charge(initiator)
    return {"role": [], "users": in_charge} if in_charge else {"role": ["dean"], "users": []}


def prepare(initiator: Any, data: dict[str, Any]) -> dict[str, Any]:
    total = total_of(data)
    if total > MAX_TOTAL:
        raise ApprovalInputError(
            "items", fmt(gettext("The total may not exceed %(max)s."), {"max": money(MAX_TOTAL)})
        )
    return {
        "total": as_number(total),
        "meeting_threshold": as_number(meeting_threshold()),
        "countersigners": [countersigner(code, initiator) for code in COUNTERSIGN_ROLES],
    }


def summary(data: dict[str, Any]) -> str:
    items = data.get("items") or ()
    return gettext("Procurement: %(first)s, %(count)s items, %(total)s") % {
        "first": items[0]["name"] if items else "",
        "count": len(items),
        "total": money(total_of(data)),
    }


PROCUREMENT = RequestType(
    key=KEY,
    name=_("Procurement"),
    category=_("Finance"),
    process_key=engine_key(KEY),
    bpmn=bpmn_path(KEY),
    form_key=engine_key(KEY),
    data_schema=ProcurementData,
    prepare=prepare,
    summary=summary,
    icon="cart",
    order=60,
    keywords=("采购", "购买", "设备", "预算", "会签", "procurement", "purchase"),
    description=_(
        "Goods and equipment: equipment office, finance and the vice dean countersign; "
        "large purchases go to the leadership meeting."
    ),
)
