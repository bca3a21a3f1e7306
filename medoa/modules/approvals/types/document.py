"""公文流转 Official document circulation: drafted (the start form), reviewed, signed off,
distributed to departments with a read receipt per department (``DocumentReceipt``).

Routing (``processes/document.bpmn``): the department head reviews (``leader:1``) → the vice dean
or the dean signs off (``sign_off_by``) → the script step ``approvals.document_distribute`` makes
one receipt per recipient department and tells their heads.
"""

from __future__ import annotations

from typing import Any, Literal

from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, Field, field_validator

from medoa.core.audit.services import audit_record
from medoa.core.notify.services import notification_send
from medoa.core.org.choices import ActiveStatus
from medoa.core.org.models import Department, Staff
from medoa.core.org.selectors import role_holders

from ..catalog import RequestType
from ..errors import ApprovalInputError, ApprovalNotFound, fmt
from ..models_proc import DocumentReceipt
from ._common import Data, bpmn_path, engine_key

KEY = "document"
NOTIFIED_ROLES = ("dept_head", "head_nurse")


class DocumentRecipient(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    department: str = Field(..., min_length=1, max_length=32, description="a department code")


class DocumentData(Data):
    """The API's ``data`` for ``"type": "document"``."""

    title: str = Field(..., min_length=1, max_length=200)
    doc_number: str = Field("", max_length=60, description="文号")
    body: str = Field(..., min_length=2, max_length=20000)
    attachment: list[str] = Field(default_factory=list, max_length=10, description="form attachment ids")
    sign_off_by: Literal["vice_dean", "dean"] = Field("vice_dean", description="who signs it off (签发)")
    recipients: list[DocumentRecipient] = Field(..., min_length=1, max_length=300)

    @field_validator("recipients")
    @classmethod
    def _distinct(cls, value: list[DocumentRecipient]) -> list[DocumentRecipient]:
        codes = [r.department for r in value]
        if len(set(codes)) != len(codes):
            raise ValueError("a department is named twice")
        return value


def recipient_codes(data: dict[str, Any]) -> list[str]:
    return [str(r["department"]) for r in data.get("recipients") or ()]


def prepare(initiator: Any, data: dict[str, Any]) -> dict[str, Any]:
    codes = recipient_codes(data)
    known = set(
        Department.objects.filter(code__in=codes, status=ActiveStatus.ACTIVE).values_list("code", flat=True)
    )
    missing = [code for code in codes if code not in known]
    if missing:
        raise ApprovalInputError(
            "recipients", fmt(gettext("There is no active department %(code)s."), {"code": missing[0]})
        )
    return {"recipient_count": len(codes)}


def summary(data: dict[str, Any]) -> str:
    return gettext("Document %(title)s to %(count)s departments") % {
        "title": data["title"],
        "count": len(recipient_codes(data)),
    }


def _document_link(request_id: int) -> str:
    try:
        return reverse("approvals:document_read", args=[request_id])
    except NoReverseMatch:
        return ""


@transaction.atomic
def document_distribute(variables: dict[str, Any]) -> dict[str, Any]:
    """The script step ``approvals.document_distribute``: one receipt per recipient department (again
    on a second pass: the existing ones are kept) and a notification to their heads."""
    request_id = variables.get("request_id")
    if not request_id:
        return {}
    codes = recipient_codes(variables)
    departments = list(Department.objects.filter(code__in=codes))
    existing = set(
        DocumentReceipt.objects.filter(request_id=request_id).values_list("department_id", flat=True)
    )
    new = [d for d in departments if d.pk not in existing]
    DocumentReceipt.objects.bulk_create([DocumentReceipt(request_id=request_id, department=d) for d in new])
    heads: dict[int, Staff] = {}
    for department in new:
        for code in NOTIFIED_ROLES:
            for person in role_holders(code, department):
                heads.setdefault(person.pk, person)
    if heads:
        notification_send(
            recipients=[p.user for p in heads.values()],
            title=fmt(
                gettext("Document to read: %(title)s"), {"title": str(variables.get("title", ""))[:150]}
            ),
            body=str(variables.get("doc_number") or ""),
            link=_document_link(int(request_id)),
            kind="approvals.document",
        )
    audit_record(
        actor=None,
        actor_name="approvals.document_distribute",
        action="approvals.document.distributed",
        target=("approvals.ApprovalRequest", request_id, str(variables.get("title", ""))[:200]),
        details={"departments": [d.code for d in new]},
    )
    return {"distributed_to": [d.code for d in departments]}


def receipt_mark_read(*, actor: Any, receipt: DocumentReceipt) -> DocumentReceipt:
    """Record that ``actor``'s department read the document (the first reader counts; later reads
    change nothing). The caller checked that the actor belongs to the receipt's department."""
    with transaction.atomic():
        locked = DocumentReceipt.objects.select_for_update().filter(pk=receipt.pk).first()
        if locked is None:
            raise ApprovalNotFound()
        if locked.read_at is not None:
            return locked
        staff = Staff.objects.get(user=actor)
        locked.read_at = timezone.now()
        locked.read_by = staff
        locked.save(update_fields=["read_at", "read_by"])
        audit_record(
            actor=actor,
            action="approvals.document.read",
            target=locked,
            details={"request": locked.request_id, "department": locked.department_id},
        )
        return locked


DOCUMENT = RequestType(
    key=KEY,
    name=_("Official document"),
    category=_("Administration"),
    process_key=engine_key(KEY),
    bpmn=bpmn_path(KEY),
    form_key=engine_key(KEY),
    data_schema=DocumentData,
    prepare=prepare,
    summary=summary,
    icon="document",
    order=90,
    keywords=("公文", "发文", "签发", "通知", "流转", "document", "circular"),
    description=_(
        "An official document: drafted, reviewed by the department head, signed off by the vice dean "
        "or dean, distributed to departments with read receipts."
    ),
)
