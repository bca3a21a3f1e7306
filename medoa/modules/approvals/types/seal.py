"""用印 Seal use: seal type, the document, copies, purpose; the seal keeper confirms that the seal
was applied.

Routing (``processes/seal.bpmn``): the department head (``leader:1``) → the keeper of that seal.
Who keeps which seal is the setting ``MEDOA_APPROVALS_SEAL_KEEPERS``: seal type → comma-separated
entries, each a role code (``hr``), a role of one department (``dept_head@OFFICE``) or a person
(``user:zhang.san``). By default 人事处 (``hr``) keeps the official, contract and legal
representative's seals and 财务处 (``finance``) the finance seal.
"""

from __future__ import annotations

from typing import Any, Literal

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pydantic import Field

from ..catalog import RequestType
from ..errors import ApprovalInputError, fmt
from ._common import Data, bpmn_path, engine_key, setting

KEY = "seal"
SEAL_TYPES = {
    "official": _("Official seal"),
    "contract": _("Contract seal"),
    "finance": _("Finance seal"),
    "legal_rep": _("Legal representative's seal"),
}
DEFAULT_KEEPERS = {"official": "hr", "contract": "hr", "finance": "finance", "legal_rep": "hr"}


class SealData(Data):
    """The API's ``data`` for ``"type": "seal"``."""

    seal_type: Literal["official", "contract", "finance", "legal_rep"] = Field(
        ..., description="公章 official, 合同章 contract, 财务章 finance, 法人章 legal_rep"
    )
    document_title: str = Field(..., min_length=1, max_length=200)
    document: list[str] = Field(..., min_length=1, max_length=10, description="form attachment ids")
    copies: int = Field(1, ge=1, le=100)
    purpose: str = Field(..., min_length=2, max_length=1000)


def keepers(seal_type: str) -> tuple[list[str], list[str]]:
    """(usernames, group entries) of the keeper of ``seal_type`` from the setting."""
    configured = {**DEFAULT_KEEPERS, **setting("MEDOA_APPROVALS_SEAL_KEEPERS", {})}
    users: list[str] = []
    groups: list[str] = []
    for entry in str(configured.get(seal_type, "")).split(","):
        entry = entry.strip()
        if entry.startswith("user:"):
            users.append(entry.removeprefix("user:").strip())
        elif entry:
            groups.append(entry)
    return users, groups


def prepare(initiator: Any, data: dict[str, Any]) -> dict[str, Any]:
    users, groups = keepers(data["seal_type"])
    if not users and not groups:
        raise ApprovalInputError(
            "seal_type",
            fmt(
                gettext("No keeper is configured for the %(seal)s."), {"seal": SEAL_TYPES[data["seal_type"]]}
            ),
        )
    return {
        "seal_type_label": str(SEAL_TYPES[data["seal_type"]]),
        "seal_keeper_users": users,
        "seal_keeper_groups": groups,
    }


def summary(data: dict[str, Any]) -> str:
    return gettext("%(seal)s × %(copies)s: %(title)s") % {
        "seal": SEAL_TYPES[data["seal_type"]],
        "copies": data.get("copies", 1),
        "title": data["document_title"],
    }


SEAL = RequestType(
    key=KEY,
    name=_("Seal use"),
    category=_("Administrative affairs"),
    process_key=engine_key(KEY),
    bpmn=bpmn_path(KEY),
    form_key=engine_key(KEY),
    data_schema=SealData,
    prepare=prepare,
    summary=summary,
    icon="stamp",
    order=70,
    keywords=("用印", "盖章", "公章", "合同章", "财务章", "法人章", "seal", "stamp"),
    description=_("Use of a hospital seal: department head, then the seal keeper confirms it was applied."),
)
