"""报销 Reimbursement: line items (category, description, amount, invoice attachments); the
total is computed here, never taken from the client.

Routing (``processes/reimbursement.bpmn``): total ≤ 5,000 → the department head; ≤ 50,000 → plus
财务处 (``finance``); above → plus the vice dean and the dean.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..catalog import RequestType
from ..errors import ApprovalInputError, fmt
from ._common import Data, as_number, bpmn_path, cents, check_cents, engine_key, money, vice_deans_for

KEY = "reimbursement"
MAX_TOTAL = Decimal("100000000")


class ReimbursementItem(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: Literal["travel", "office", "training", "meeting", "hospitality", "material", "other"] = Field(
        ...,
        description="差旅费 travel, 办公费 office, 培训费 training, 会议费 meeting, 公务接待费 hospitality, "
        "材料费 material, 其他 other",
    )
    description: str = Field(..., min_length=1, max_length=200)
    amount: float = Field(..., ge=0.01, le=10_000_000, description="yuan, at most 2 decimals")
    invoice: list[str] = Field(
        ..., min_length=1, max_length=10, description="form attachment ids of the invoices"
    )

    _cents = field_validator("amount")(check_cents)


class ReimbursementData(Data):
    """The API's ``data`` for ``"type": "reimbursement"``."""

    reason: str = Field(..., min_length=2, max_length=1000)
    items: list[ReimbursementItem] = Field(..., min_length=1, max_length=100)


def total_of(data: dict[str, Any]) -> Decimal:
    return sum((cents(item["amount"]) for item in data.get("items") or ()), Decimal("0.00"))


def prepare(initiator: Any, data: dict[str, Any]) -> dict[str, Any]:
    total = total_of(data)
    if total <= 0:
        raise ApprovalInputError("items", gettext("Add at least one line with an amount."))
    if total > MAX_TOTAL:
        raise ApprovalInputError(
            "items", fmt(gettext("The total may not exceed %(max)s."), {"max": money(MAX_TOTAL)})
        )
    return {
        "total": as_number(total),
        "item_count": len(data["items"]),
        "vice_dean": vice_deans_for(initiator),
    }


def summary(data: dict[str, Any]) -> str:
    return gettext("Reimbursement %(total)s, %(count)s items") % {
        "total": money(total_of(data)),
        "count": len(data.get("items") or ()),
    }


REIMBURSEMENT = RequestType(
    key=KEY,
    name=_("Reimbursement"),
    category=_("Finance"),
    process_key=engine_key(KEY),
    bpmn=bpmn_path(KEY),
    form_key=engine_key(KEY),
    data_schema=ReimbursementData,
    prepare=prepare,
    summary=summary,
    icon="money",
    order=50,
    keywords=("报销", "费用", "发票", "差旅费", "reimbursement", "expenses", "invoice"),
    description=_(
        "Expenses with invoices: up to 5,000 the department head; up to 50,000 plus finance; "
        "above, plus the vice dean and the dean."
    ),
)
