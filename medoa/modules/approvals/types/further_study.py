"""进修 Further study: institution, specialty, months, dates.

Routing (``processes/further_study.bpmn``): the department head (``leader:1``) → 科教处
(``education_office``) → the vice dean when more than 3 months.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pydantic import Field

from ..catalog import RequestType
from ._common import Data, bpmn_path, date_range, engine_key, vice_deans_for

KEY = "further_study"
LONG_STUDY_MONTHS = 3


class FurtherStudyData(Data):
    """The API's ``data`` for ``"type": "further_study"``."""

    institution: str = Field(..., min_length=1, max_length=100, description="the host hospital")
    specialty: str = Field(..., min_length=1, max_length=60)
    months: int = Field(..., ge=1, le=24)
    start_date: datetime.date
    end_date: datetime.date
    plan: str = Field(..., min_length=2, max_length=2000, description="reason and study plan")
    attachment: list[str] = Field(default_factory=list, max_length=10, description="form attachment ids")


def prepare(initiator: Any, data: dict[str, Any]) -> dict[str, Any]:
    date_range(data)
    return {"months": int(data["months"]), "vice_dean": vice_deans_for(initiator)}


def summary(data: dict[str, Any]) -> str:
    start, _end = date_range(data)
    return gettext("Further study at %(institution)s, %(specialty)s, %(months)s months from %(start)s") % {
        "institution": data["institution"],
        "specialty": data["specialty"],
        "months": data["months"],
        "start": start.isoformat(),
    }


FURTHER_STUDY = RequestType(
    key=KEY,
    name=_("Further study"),
    category=_("Personnel"),
    process_key=engine_key(KEY),
    bpmn=bpmn_path(KEY),
    form_key=engine_key(KEY),
    data_schema=FurtherStudyData,
    prepare=prepare,
    summary=summary,
    icon="study",
    order=40,
    keywords=("进修", "培训", "外出学习", "further study", "training"),
    description=_(
        "Study at another hospital: department head, then education office; over 3 months, the vice dean."
    ),
)
