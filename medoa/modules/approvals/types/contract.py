"""合同审批 Contract review: counterparty, amount, the contract file; every revision of the file
is kept (``ContractRevision``).

Routing (``processes/contract.bpmn``): legal (``MEDOA_APPROVALS_CONTRACT_LEGAL_ROLE``, default
医务处 ``medical_affairs``: MedOA has no built-in legal role) and 财务处 (``finance``) review in
parallel (会签); both approve → the dean; either rejects → back to the initiator to revise
(修改合同: approve = resubmit with the new file, reject = give up). The script step
``approvals.contract_revision`` records the file of each round as the next revision.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pydantic import Field, field_validator

from medoa.core.audit.services import audit_record
from medoa.engines.forms.models import FormAttachment

from ..catalog import RequestType
from ..errors import ApprovalNotFound
from ..models_proc import ContractRevision
from ._common import Data, as_number, bpmn_path, cents, check_cents, engine_key, money, setting

KEY = "contract"
DEFAULT_LEGAL_ROLE = "medical_affairs"


class ContractData(Data):
    """The API's ``data`` for ``"type": "contract"``."""

    title: str = Field(..., min_length=1, max_length=200)
    counterparty: str = Field(..., min_length=1, max_length=200)
    amount: float = Field(..., ge=0, le=10_000_000_000, description="yuan, at most 2 decimals")
    summary: str = Field(..., min_length=2, max_length=4000, description="the main terms")
    contract_file: str = Field(..., min_length=1, max_length=64, description="one form attachment id")
    revision_note: str = Field("", max_length=2000)

    _cents = field_validator("amount")(check_cents)


def legal_role() -> str:
    return str(setting("MEDOA_APPROVALS_CONTRACT_LEGAL_ROLE", DEFAULT_LEGAL_ROLE))


def prepare(initiator: Any, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "amount": as_number(cents(data["amount"])),
        "reviewers": [{"role": legal_role()}, {"role": "finance"}],
    }


def summary(data: dict[str, Any]) -> str:
    return gettext("Contract %(title)s with %(counterparty)s, %(amount)s") % {
        "title": data["title"],
        "counterparty": data["counterparty"],
        "amount": money(data["amount"]),
    }


@transaction.atomic
def contract_revision_record(variables: dict[str, Any]) -> dict[str, Any]:
    """The script step ``approvals.contract_revision``: keep the contract file of this round as the
    request's next revision (nothing when it is the file of the latest revision). Returns the
    variable ``contract_revision`` (its number)."""
    request_id = variables.get("request_id")
    file_id = variables.get("contract_file")
    if not request_id or not isinstance(file_id, str) or not file_id:
        return {}
    latest = ContractRevision.objects.filter(request_id=request_id).order_by("-number").first()
    if latest is not None and latest.attachment_id == file_id:
        return {"contract_revision": latest.number}
    attachment = FormAttachment.objects.get(pk=file_id)
    revision = ContractRevision.objects.create(
        request_id=request_id,
        number=(latest.number + 1) if latest is not None else 1,
        attachment=attachment,
        note=str(variables.get("revision_note") or "")[:2000] if latest is not None else "",
    )
    audit_record(
        actor=attachment.uploaded_by.user,
        action="approvals.contract.revision_recorded",
        target=revision,
        details={"request": request_id, "revision": revision.number, "file": attachment.name},
    )
    return {"contract_revision": revision.number}


CONTRACT = RequestType(
    key=KEY,
    name=_("Contract review"),
    category=_("Administrative affairs"),
    process_key=engine_key(KEY),
    bpmn=bpmn_path(KEY),
    form_key=engine_key(KEY),
    data_schema=ContractData,
    prepare=prepare,
    summary=summary,
    icon="contract",
    order=80,
    keywords=("合同", "合同审批", "法务", "协议", "contract", "agreement"),
    description=_(
        "A contract: legal and finance review in parallel, then the dean; returned for revision "
        "when a reviewer objects, every revision kept."
    ),
)


# --- reading ---------------------------------------------------------------------------------------


def contract_revisions(request: Any) -> list[ContractRevision]:
    """The revisions of a contract request's file, oldest first (empty for other types). The caller
    checked that the person may see the request."""
    return list(
        ContractRevision.objects.filter(request=request).select_related("attachment").order_by("number")
    )


def contract_revision_get(request: Any, number: int) -> ContractRevision:
    revision = (
        ContractRevision.objects.filter(request=request, number=number).select_related("attachment").first()
    )
    if revision is None:
        raise ApprovalNotFound()
    return revision
