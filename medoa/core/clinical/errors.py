"""The refusals of the clinical services (``apply_encounter``, ``apply_result``)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from medoa.core.errors import ServiceError, fmt

from .choices import CodeKind


class ClinicalError(ServiceError):
    default_message = _("The clinical fact is not valid.")


class UnmappedCode(ClinicalError):
    """A sender's department or ward code maps to no MedOA department: the message waits as
    unmapped, naming ``kind`` and ``code`` (and the sending ``facility``), until a mapping exists."""

    def __init__(self, kind: str, code: str, *, facility: str = "") -> None:
        self.kind = kind
        self.code = code
        self.facility = facility
        super().__init__(
            fmt(
                _("Unmapped %(kind)s code %(code)s (sending facility %(facility)s)."),
                {
                    "kind": CodeKind(kind).label if kind in CodeKind.values else kind,
                    "code": code,
                    "facility": facility or "*",
                },
            ),
            field=f"{kind}_code",
        )

    @property
    def key(self) -> str:
        """Machine form stored in a parked message's reason: ``unmapped:<kind>:<facility>:<code>``."""
        return f"unmapped:{self.kind}:{self.facility}:{self.code}"


class ClinicalFactInvalid(ClinicalError):
    """The fact itself is wrong (no patient identifier, an unknown kind …)."""

    def __init__(self, message: Any = None, *, field: str | None = None) -> None:
        super().__init__(message, field=field)


class ClinicalFactPending(ClinicalError):
    """The fact refers to something not yet known (a cancel before what it cancels): it must wait,
    not fail. The caller parks it and retries once the patient's next fact has been applied."""

    def __init__(self, message: Any = None, *, patient_id: str = "") -> None:
        self.patient_id = patient_id
        super().__init__(message)
