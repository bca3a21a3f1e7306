"""The event types core/clinical publishes, registered in ``ClinicalConfig.ready()``.

Every payload names the patient by identifier and initials only (never the full name), the visit,
and the location and department in MedOA codes, so that the bed board and the critical-value loop
(issue 7) need nothing else. Only the system publishes them (``api_publish=False``).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, Field

from medoa.core.events.registry import EventType, event_types


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EncounterEvent(_Payload):
    """``clinical.patient.<admitted|transferred|discharged|registered|updated|admission_cancelled|
    discharge_cancelled>``."""

    patient_id: str = Field(..., description="the sender's patient identifier (MRN, PID-3)")
    patient_authority: str = Field("", description="who assigned the identifier (PID-3.4 or facility)")
    patient_initials: str = ""
    patient_sex: str = ""
    encounter_id: int | None = None
    visit_number: str = ""
    encounter_class: str = ""
    status: str = Field(..., description="the encounter's status after the fact")
    department: str = Field("", description="MedOA department code")
    ward: str = Field("", description="MedOA ward (department) code")
    room: str = ""
    bed: str = Field("", description="bed code")
    prior_department: str = ""
    prior_ward: str = ""
    prior_room: str = ""
    prior_bed: str = ""
    attending_doctor: str = Field("", description="MedOA username, or empty")
    admitted_at: str | None = None
    discharged_at: str | None = None
    occurred_at: str = Field(..., description="ISO 8601")
    source: str = Field("", description="hl7:<message id> or fhir:<id>")
    facility: str = ""


class ObservationSummary(_Payload):
    observation_id: int
    code: str
    name: str = ""
    value: str = ""
    unit: str = ""
    reference_range: str = ""
    flags: list[str] = Field(default_factory=list)
    status: str = ""
    critical: bool = False


class ResultReceived(_Payload):
    """``clinical.result.received``: one result report (order) with its observations."""

    patient_id: str
    patient_authority: str = ""
    patient_initials: str = ""
    result_id: int
    encounter_id: int | None = None
    visit_number: str = ""
    order_code: str = ""
    order_name: str = ""
    result_status: str = ""
    department: str = ""
    ward: str = ""
    room: str = ""
    bed: str = ""
    attending_doctor: str = ""
    ordering_doctor: str = ""
    critical_count: int = 0
    observations: list[ObservationSummary] = Field(default_factory=list)
    occurred_at: str
    source: str = ""
    facility: str = ""


class CriticalValueReceived(_Payload):
    """``clinical.critical_value.received``: one critical observation (OBX-8 HH, LL, AA or a
    configured local flag) — the start of the critical-value loop."""

    patient_id: str
    patient_authority: str = ""
    patient_initials: str = ""
    result_id: int
    observation_id: int
    encounter_id: int | None = None
    visit_number: str = ""
    department: str = ""
    ward: str = ""
    room: str = ""
    bed: str = ""
    attending_doctor: str = ""
    ordering_doctor: str = ""
    order_code: str = ""
    order_name: str = ""
    test_code: str
    test_name: str = ""
    value: str = ""
    unit: str = ""
    flag: str
    flags: list[str] = Field(default_factory=list)
    reference_range: str = ""
    observed_at: str | None = None
    occurred_at: str
    source: str = ""
    facility: str = ""


ENCOUNTER_EVENT_LABELS = {
    "admitted": (_("Patient admitted"), _("A patient was admitted (HL7 A01 or FHIR Encounter).")),
    "transferred": (_("Patient transferred"), _("A patient moved to another ward or bed (HL7 A02).")),
    "discharged": (
        _("Patient discharged"),
        _("A patient was discharged (HL7 A03); the bed is to be cleaned."),
    ),
    "registered": (_("Patient registered"), _("An outpatient or pre-admission registration (HL7 A04).")),
    "updated": (_("Patient information updated"), _("Patient or visit information changed (HL7 A08).")),
    "admission_cancelled": (_("Admission cancelled"), _("An admission was cancelled (HL7 A11).")),
    "discharge_cancelled": (_("Discharge cancelled"), _("A discharge was cancelled (HL7 A13).")),
}

EVENT_TYPES: tuple[EventType, ...] = (
    *(
        EventType(
            f"clinical.patient.{kind}", EncounterEvent, label=label, description=desc, api_publish=False
        )
        for kind, (label, desc) in ENCOUNTER_EVENT_LABELS.items()
    ),
    EventType(
        "clinical.result.received",
        ResultReceived,
        label=_("Result received"),
        description=_("A laboratory or examination result arrived (HL7 ORU^R01 or FHIR Observation)."),
        api_publish=False,
    ),
    EventType(
        "clinical.critical_value.received",
        CriticalValueReceived,
        label=_("Critical value received"),
        description=_("A result contains a critical value that the attending doctor must acknowledge."),
        api_publish=False,
    ),
)


def register_event_types() -> None:
    for event_type in EVENT_TYPES:
        event_types.register(event_type)
