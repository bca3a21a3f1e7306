"""The request types of the approval centre. ``ApprovalsConfig.ready()`` registers every entry of
``ALL`` in ``catalog.request_types`` (PROC appends its types here)."""

from __future__ import annotations

from .leave import LEAVE

ALL = (LEAVE,)

# --- PROC's types (business trip … document circulation) and their automatic steps -------------

from medoa.core.access.permissions import register as register_permission  # noqa: E402
from medoa.engines.flow.registry import service_functions  # noqa: E402

from ..stats import PERMISSIONS as STATS_PERMISSIONS  # noqa: E402
from .business_trip import BUSINESS_TRIP  # noqa: E402
from .contract import CONTRACT, contract_revision_record  # noqa: E402
from .document import DOCUMENT, document_distribute  # noqa: E402
from .further_study import FURTHER_STUDY  # noqa: E402
from .procurement import PROCUREMENT  # noqa: E402
from .reimbursement import REIMBURSEMENT  # noqa: E402
from .seal import SEAL  # noqa: E402

ALL = (*ALL, BUSINESS_TRIP, FURTHER_STUDY, REIMBURSEMENT, PROCUREMENT, SEAL, CONTRACT, DOCUMENT)  # type: ignore[assignment]

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
