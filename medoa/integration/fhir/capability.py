"""The CapabilityStatement ``GET /fhir/r4/metadata`` answers: what MedOA accepts."""

from __future__ import annotations

from typing import Any

from .services import MAPPED_TYPES, max_bytes

DOCS = {
    "Encounter": "Mapped to clinical.patient.* events (admitted, transferred, discharged, registered, "
    "updated, admission_cancelled, discharge_cancelled) from status, class, period, location, "
    "serviceProvider and participant (see docs/fhir.md).",
    "Observation": "Mapped to clinical.result.received, and clinical.critical_value.received for an "
    "interpretation HH, LL, AA or a local critical flag.",
    "Patient": "Stored (the MRN identifier names the patient in later resources).",
    "Practitioner": "Stored; an identifier equal to a staff member's employee number or username "
    "links it to that MedOA user.",
    "Location": "Stored; beds (bd), rooms (ro) and wards (wa, else lvl/wi/area) along partOf give an "
    "Encounter's ward, room and bed codes.",
}


def capability_statement(*, base: str) -> dict[str, Any]:
    resources = [
        {
            "type": rtype,
            "interaction": [{"code": "create"}],
            "documentation": DOCS[rtype],
        }
        for rtype in MAPPED_TYPES
    ]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-26",
        "publisher": "MedOA",
        "kind": "instance",
        "software": {"name": "MedOA"},
        "implementation": {"description": "MedOA FHIR R4 receiving endpoint", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Receive only. Authenticate with a system API key (Authorization: Bearer msk_… or "
                    "X-API-Key) whose scopes name fhir:<resource type> (and fhir:Bundle for Bundles). "
                    f"Bodies up to {max_bytes()} bytes."
                ),
                "security": {
                    "cors": False,
                    "description": "System API keys with fhir:<type> scopes.",
                },
                "resource": resources,
                "interaction": [
                    {
                        "code": "batch",
                        "documentation": "POST a batch Bundle: each entry answered on its own.",
                    },
                    {"code": "transaction", "documentation": "POST a transaction Bundle: all or nothing."},
                ],
            }
        ],
    }
