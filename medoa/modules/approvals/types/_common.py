"""What the request types PROC ships share: where their files are, the money and date helpers
their ``prepare`` functions use, and the settings they read (at call time, never at import).

Process ids and form keys are ``approvals_<type key>`` (the form file is
``forms/approvals_<type key>.json``): the demo hospital has its own ``further_study`` app (form
and process), and a hospital's own forms named ``contract`` or ``document`` must not be replaced
when the approval centre deploys its types.
"""

from __future__ import annotations

import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from pydantic import BaseModel, ConfigDict

from medoa.core.org.models import Staff

from ..catalog import PACKAGE_DIR
from ..errors import ApprovalInputError
from .leave import vice_dean_in_charge

KEY_PREFIX = "approvals_"
CENT = Decimal("0.01")


def bpmn_path(key: str) -> Path:
    """``processes/<type key>.bpmn``"""
    return PACKAGE_DIR / "processes" / f"{key}.bpmn"


def engine_key(key: str) -> str:
    """The process id and form key of a type: ``approvals_<type key>``."""
    return f"{KEY_PREFIX}{key}"


class Data(BaseModel):
    """The base of every type's API data: unknown fields are errors (the form refuses them too)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def cents(value: Any) -> Decimal:
    """A money amount as a Decimal rounded to the cent (floats go through their shortest text)."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def check_cents(value: float) -> float:
    """A pydantic validator: at most two decimals."""
    if Decimal(str(value)) != cents(value):
        raise ValueError("at most two decimals (cents)")
    return value


def money(value: Any) -> str:
    """¥3,200.00"""
    return f"¥{cents(value):,.2f}"


def as_number(value: Decimal) -> int | float:
    """A Decimal amount as the JSON number a process condition compares (whole yuan → int)."""
    value = cents(value)
    return int(value) if value == value.to_integral_value() else float(value)


def as_date(value: Any, field: str) -> datetime.date:
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise ApprovalInputError(field, _("Enter a date as YYYY-MM-DD.")) from None


def date_range(data: dict[str, Any]) -> tuple[datetime.date, datetime.date]:
    """``start_date`` and ``end_date`` of ``data``; the end may not come before the start."""
    start = as_date(data.get("start_date"), "start_date")
    end = as_date(data.get("end_date"), "end_date")
    if end < start:
        raise ApprovalInputError("end_date", _("The end date is before the start date."))
    return start, end


def setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def vice_deans_for(initiator: Staff) -> list[str]:
    """The vice dean in charge of the initiator (分管副院长: the first vice dean among the leaders
    above them, else every vice dean), as the variable ``vice_dean`` of the vice dean's steps. A
    vice dean who is the only one gets themself: the step's ``medoa:skipInitiator="leader"`` then
    sends it to their leader (the dean)."""
    return vice_dean_in_charge(initiator) or [initiator.user.username]
