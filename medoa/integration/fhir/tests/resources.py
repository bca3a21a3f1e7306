"""Small R4 resources for the tests (written here; the outside samples are in ../shared/data/fhir)."""

from __future__ import annotations

from typing import Any


def patient(mrn: str = "MRN001", pid: str = "p1", name: tuple[str, str] = ("ZHANG", "SAN")) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [
            {
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]
                },
                "value": mrn,
            }
        ],
        "name": [{"family": name[0], "given": [name[1]]}],
        "gender": "male",
        "birthDate": "1960-05-01",
    }


def ward(code: str, lid: str) -> dict[str, Any]:
    return {
        "resourceType": "Location",
        "id": lid,
        "identifier": [{"value": code}],
        "name": f"Ward {code}",
        "physicalType": {"coding": [{"code": "wa"}]},
    }


def bed(code: str, lid: str, ward_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Location",
        "id": lid,
        "identifier": [{"value": code}],
        "name": f"Bed {code}",
        "physicalType": {"coding": [{"code": "bd"}]},
        "partOf": {"reference": f"Location/{ward_id}"},
    }


def encounter(
    status: str = "in-progress",
    *,
    eid: str = "e1",
    visit: str = "V001",
    location: str | None = "Location/b1",
    klass: str = "IMP",
    patient_ref: str = "Patient/p1",
    start: str = "2026-11-20T08:00:00+08:00",
    end: str | None = None,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": eid,
        "identifier": [{"type": {"coding": [{"code": "VN"}]}, "value": visit}],
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": klass},
        "subject": {"reference": patient_ref},
        "period": {"start": start, **({"end": end} if end else {})},
    }
    if location:
        res["location"] = [{"location": {"reference": location}, "status": "active"}]
    return res


def observation(
    *, oid: str = "o1", flag: str | None = "HH", value: float = 6.8, patient_ref: str = "Patient/p1"
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3", "display": "Potassium"}]},
        "subject": {"reference": patient_ref},
        "effectiveDateTime": "2026-11-20T09:00:00+08:00",
        "valueQuantity": {"value": value, "unit": "mmol/L"},
        "referenceRange": [{"low": {"value": 3.5}, "high": {"value": 5.3}}],
    }
    if flag:
        res["interpretation"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": flag,
                    }
                ]
            }
        ]
    return res


def bundle(kind: str, *resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            {
                "fullUrl": f"urn:uuid:{r['resourceType'].lower()}-{r.get('id', i)}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r.get('id', i)}"},
            }
            for i, r in enumerate(resources)
        ],
    }
