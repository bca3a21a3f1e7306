"""The request types of the approval centre. ``ApprovalsConfig.ready()`` registers every entry of
``ALL`` in ``catalog.request_types`` (PROC appends its types here)."""

from __future__ import annotations

from medoa.core.access.permissions import register as register_permission
from medoa.engines.flow.registry import service_functions

from ..catalog import RequestType
from ..stats import PERMISSIONS as STATS_PERMISSIONS
from .business_trip import BUSINESS_TRIP
from .contract import CONTRACT, contract_revision_record
from .document import DOCUMENT, document_distribute
from .further_study import FURTHER_STUDY
from .leave import LEAVE
from .procurement import PROCUREMENT
from .reimbursement import REIMBURSEMENT
from .seal import SEAL

ALL: tuple[RequestType, ...] = (
    LEAVE,
    BUSINESS_TRIP,
    FURTHER_STUDY,
    REIMBURSEMENT,
    PROCUREMENT,
    SEAL,
    CONTRACT,
    DOCUMENT,
)

PROC_FUNCTIONS = {
    "approvals.contract_revision": contract_revision_record,
    "approvals.document_distribute": document_distribute,
}


def register_more() -> None:
    """Register the script steps of PROC's models (contract revisions, document distribution) and
    PROC's permissions; ``ApprovalsConfig.ready()`` calls it (idempotent)."""
    for name, function in PROC_FUNCTIONS.items():
        service_functions.register(name, function)
    for permission in STATS_PERMISSIONS:
        register_permission(permission)
