"""公文流转 Official document circulation: drafted (the start form), reviewed, signed off,
distributed to departments with a read receipt per department (``DocumentReceipt``).

Routing (``processes/document.bpmn``): the department head reviews (``leader:1``) → the vice dean
or the dean signs off (``sign_off_by``) → the script step ``approvals.document_distribute`` makes
one receipt per recipient department and tells their heads.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from medoa.core.org.selectors import department_chain, role_holders
from medoa.engines.forms.models import FormAttachment

from ..catalog import RequestType
from ..errors import ApprovalInputError, ApprovalNotFound, ApprovalPermissionDenied, fmt
from ..models import ApprovalRequest
from ..models_proc import DocumentReceipt
from ..selectors import request_get_for_user
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
    category=_("Administrative affairs"),
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


# --- reading (selectors of the document pages) ----------------------------------------------------


@dataclass(frozen=True)
class DocumentView:
    request: ApprovalRequest
    values: dict[str, Any]
    receipts: list[DocumentReceipt]
    mine: DocumentReceipt | None  # the receipt of the reader's department (the nearest one)
    may_see_receipts: bool  # the initiator, the approvers, approvals.request.view in scope


def _chain_ids(staff: Staff | None) -> list[int]:
    """The reader's department and those above it, nearest first."""
    if staff is None or staff.department is None:
        return []
    return [d.pk for d in department_chain(staff.department)]


def documents_for(*, user: Any) -> list[tuple[ApprovalRequest, DocumentReceipt]]:
    """The documents distributed to the reader's department or a department above it (newest
    first), each with the receipt that applies to the reader (the nearest department)."""
    staff = Staff.objects.select_related("department").filter(user=user).first()
    chain = _chain_ids(staff)
    if not chain:
        return []
    depth = {pk: n for n, pk in enumerate(chain)}  # own department first
    receipts = (
        DocumentReceipt.objects.filter(department_id__in=chain, request__type_key=KEY)
        .select_related("request__initiator", "department", "read_by")
        .order_by("-distributed_at", "-pk")[:500]
    )
    nearest: dict[int, DocumentReceipt] = {}
    for receipt in receipts:
        current = nearest.get(receipt.request_id)
        if current is None or depth[receipt.department_id] < depth[current.department_id]:
            nearest[receipt.request_id] = receipt
    return sorted(
        ((r.request, r) for r in nearest.values()), key=lambda pair: pair[1].distributed_at, reverse=True
    )


def document_get(*, user: Any, request_id: int) -> DocumentView:
    """A distributed document for a reader of a recipient department, or any document for those
    who may see the request; ``ApprovalNotFound`` for everyone else."""
    request = (
        ApprovalRequest.objects.select_related("initiator", "department", "form_record")
        .filter(pk=request_id, type_key=KEY)
        .first()
    )
    if request is None:
        raise ApprovalNotFound()
    staff = Staff.objects.select_related("department").filter(user=user).first()
    chain = _chain_ids(staff)
    receipts = list(
        DocumentReceipt.objects.filter(request=request)
        .select_related("department", "read_by")
        .order_by("department__code")
    )
    mine = None
    for department_id in chain:  # own department first
        mine = next((r for r in receipts if r.department_id == department_id), None)
        if mine is not None:
            break
    try:
        request_get_for_user(user=user, request_id=request_id)
        may_see_receipts = True
    except ApprovalNotFound:
        may_see_receipts = False
    if mine is None and not may_see_receipts:
        raise ApprovalNotFound()
    values = dict(request.form_record.values) if request.form_record is not None else dict(request.data)
    return DocumentView(
        request=request, values=values, receipts=receipts, mine=mine, may_see_receipts=may_see_receipts
    )


def document_attachment_get(*, user: Any, request_id: int, attachment_id: str) -> FormAttachment:
    """A file of the document's ``attachment`` field, for whoever may read the document."""
    view = document_get(user=user, request_id=request_id)
    if attachment_id not in [str(a) for a in view.values.get("attachment") or ()]:
        raise ApprovalNotFound()
    attachment = FormAttachment.objects.filter(pk=attachment_id).first()
    if attachment is None:
        raise ApprovalNotFound()
    return attachment


def document_mark_read(*, actor: Any, request_id: int) -> DocumentReceipt:
    """The reader marks the document read for their department (their nearest recipient one)."""
    view = document_get(user=actor, request_id=request_id)
    if view.mine is None:
        raise ApprovalPermissionDenied(gettext("This document was not sent to your department."))
    return receipt_mark_read(actor=actor, receipt=view.mine)


def attachments_of(view: DocumentView) -> list[FormAttachment]:
    ids = [str(a) for a in view.values.get("attachment") or ()]
    by_id = FormAttachment.objects.in_bulk(ids)
    return [by_id[i] for i in ids if i in by_id]
