"""FHIR resources become the same clinical facts and events as HL7: an encounter's life
(admitted → transferred → discharged → discharge cancelled, cancelled), results with critical
values, unmapped codes parked and reprocessed, batch and transaction Bundles."""

from __future__ import annotations

from typing import Any

import pytest

from medoa.core.clinical.models import CodeMapping, Encounter, Observation, Patient
from medoa.core.events.models import Event
from medoa.integration.fhir import services
from medoa.integration.fhir.models import StoredResource, Submission

from .resources import bed, bundle, encounter, observation, patient, ward

pytestmark = pytest.mark.django_db


def _types() -> list[str]:
    return list(Event.objects.order_by("id").values_list("type", flat=True))


@pytest.fixture
def places(fhir: Any, ward_mapping: None) -> None:
    for res in (ward("4E", "w4e"), ward("5W", "w5w"), bed("4E-01", "b1", "w4e"), bed("5W-07", "b7", "w5w")):
        status, body = fhir("/fhir/r4/Location", res)
        assert status == 201, body
    status, body = fhir("/fhir/r4/Patient", patient())
    assert status == 201, body


def test_patient_location_practitioner_are_stored_once(fhir: Any, places: None, staff_factory: Any) -> None:
    assert set(StoredResource.objects.values_list("resource_type", "resource_id")) == {
        ("Location", "w4e"),
        ("Location", "w5w"),
        ("Location", "b1"),
        ("Location", "b7"),
        ("Patient", "p1"),
    }
    status, body = fhir("/fhir/r4/Patient", patient())
    assert status == 201
    assert body["issue"][0]["diagnostics"] == "Patient unchanged."
    assert StoredResource.objects.get(resource_id="p1").version == 1
    staff = staff_factory(employee_no="D0042", user__username="dr_li")
    doc = {"resourceType": "Practitioner", "id": "pr1", "identifier": [{"value": staff.employee_no}]}
    status, body = fhir("/fhir/r4/Practitioner", doc)
    assert status == 201
    assert "dr_li" in body["issue"][0]["diagnostics"]
    assert StoredResource.objects.get(resource_id="pr1").state == {"username": "dr_li"}
    assert (
        Submission.objects.get(
            resource_id="p1", status="processed", id=Submission.objects.filter(resource_id="p1").first().pk
        ).patient_id
        == "MRN001"
    )
    assert not Event.objects.exists()


def test_an_encounter_lifecycle_maps_to_the_clinical_events(fhir: Any, places: None) -> None:
    status, body = fhir("/fhir/r4/Encounter", encounter("in-progress", location="Location/b1"))
    assert status == 201, body
    enc = Encounter.objects.get(visit_number="V001")
    assert (enc.status, enc.ward_code, enc.bed_code) == ("admitted", "W1", "4E-01")
    assert Patient.objects.get(identifier="MRN001").initials == "S.Z."

    status, body = fhir("/fhir/r4/Encounter", encounter("in-progress", location="Location/b7"))
    assert status == 201, body
    enc.refresh_from_db()
    assert (enc.ward_code, enc.bed_code) == ("W2", "5W-07")

    status, _body = fhir("/fhir/r4/Encounter", encounter("in-progress", location="Location/b7"))
    assert status == 201  # the same version again: nothing new

    done = encounter("finished", location="Location/b7", end="2026-11-25T10:00:00+08:00")
    done["location"][0]["status"] = "completed"
    status, body = fhir("/fhir/r4/Encounter", done)
    assert status == 201, body
    enc.refresh_from_db()
    assert enc.status == "discharged"
    assert enc.discharged_at.isoformat() == "2026-11-25T02:00:00+00:00"

    status, body = fhir("/fhir/r4/Encounter", encounter("in-progress", location="Location/b7"))
    assert status == 201, body
    enc.refresh_from_db()
    assert enc.status == "admitted"

    status, body = fhir("/fhir/r4/Encounter", encounter("cancelled", location="Location/b7"))
    assert status == 201, body
    assert _types() == [
        "clinical.patient.admitted",
        "clinical.patient.transferred",
        "clinical.patient.discharged",
        "clinical.patient.discharge_cancelled",
        "clinical.patient.admission_cancelled",
    ]
    moved = Event.objects.get(type="clinical.patient.transferred").payload
    assert (moved["prior_ward"], moved["prior_bed"], moved["ward"], moved["bed"]) == (
        "W1",
        "4E-01",
        "W2",
        "5W-07",
    )
    assert moved["source"].startswith("fhir:")
    assert moved["patient_id"] == "MRN001"
    assert "ZHANG" not in str(moved)


def test_an_outpatient_visit_is_registered(fhir: Any, places: None) -> None:
    status, body = fhir(
        "/fhir/r4/Encounter", encounter("arrived", klass="AMB", location=None, visit="OP1", eid="op1")
    )
    assert status == 201, body
    assert _types() == ["clinical.patient.registered"]


def test_an_unmapped_ward_waits_then_is_reprocessed(fhir: Any, places: None, hospital: Any) -> None:
    status, body = fhir("/fhir/r4/Location", ward("ICU9", "icu"))
    status, body = fhir("/fhir/r4/Encounter", encounter(location="Location/icu"))
    assert status == 202
    issue = body["issue"][0]
    assert (issue["severity"], issue["code"]) == ("warning", "code-invalid")
    assert "ICU9" in issue["diagnostics"]
    assert issue["expression"] == ["Encounter.location"]
    sub = Submission.objects.filter(resource_type="Encounter").get()
    assert sub.status == "unmapped"
    assert sub.reason.startswith("unmapped:ward:HIS:ICU9")
    assert not Event.objects.exists()

    assert services.reprocess_due() == 0  # no mapping changed since
    CodeMapping.objects.create(kind="ward", facility="*", external_code="ICU9", internal_code="W2")
    assert services.reprocess_due() == 1
    sub.refresh_from_db()
    assert sub.status == "processed"
    assert sub.attempts == 2
    assert _types() == ["clinical.patient.admitted"]
    assert sub.events == [Event.objects.get().pk]


def test_a_critical_observation_publishes_a_critical_value(fhir: Any, places: None) -> None:
    status, body = fhir("/fhir/r4/Observation", observation(flag="HH"))
    assert status == 201, body
    assert _types() == ["clinical.result.received", "clinical.critical_value.received"]
    critical = Event.objects.get(type="clinical.critical_value.received").payload
    assert (critical["test_code"], critical["value"], critical["unit"], critical["flag"]) == (
        "2823-3",
        "6.8",
        "mmol/L",
        "HH",
    )
    assert critical["reference_range"] == "3.5-5.3"
    obs = Observation.objects.get()
    assert obs.critical is True
    # the same Observation again: no second result
    status, _body = fhir("/fhir/r4/Observation", observation(flag="HH"))
    assert status == 201
    assert Event.objects.count() == 2


def test_a_high_but_not_critical_observation_is_only_a_result(fhir: Any, places: None) -> None:
    status, _body = fhir("/fhir/r4/Observation", observation(flag="H", oid="o2"))
    assert status == 201
    assert _types() == ["clinical.result.received"]


def test_a_local_critical_flag_counts(fhir: Any, places: None, settings: Any) -> None:
    settings.MEDOA_HL7_CRITICAL_FLAGS = "PH"
    status, _body = fhir("/fhir/r4/Observation", observation(flag="PH", oid="o3"))
    assert status == 201
    assert "clinical.critical_value.received" in _types()


def test_an_observation_without_subject_422(fhir: Any, places: None) -> None:
    res = observation()
    del res["subject"]
    status, body = fhir("/fhir/r4/Observation", res)
    assert status == 422
    assert body["issue"][0]["expression"] == ["Observation.subject"]
    assert not Event.objects.exists()


def test_a_batch_answers_each_entry(fhir: Any, ward_mapping: None) -> None:
    bad = observation(oid="bad")
    bad["status"] = "done"
    unmapped = encounter(eid="e9", visit="V9", location="Location/x9")
    data = bundle(
        "batch",
        patient(),
        ward("4E", "w4e"),
        bed("4E-01", "b1", "w4e"),
        encounter(),
        bad,
        unmapped,
        {"resourceType": "Organization", "id": "org1", "name": "Lab"},
    )
    data["entry"].append({"resource": {"resourceType": "Patient", "birthDate": "nope"}})
    status, body = fhir("/fhir/r4/", data)
    assert status == 200, body
    assert body["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == [
        "201 Created",
        "201 Created",
        "201 Created",
        "201 Created",
        "422 Unprocessable Entity",
        "202 Accepted",
        "201 Created",
        "422 Unprocessable Entity",
    ]
    assert body["entry"][7]["response"]["outcome"]["issue"][0]["expression"] == [
        "Bundle.entry[7].resource.birthDate"
    ]
    assert body["entry"][4]["response"]["outcome"]["issue"][0]["expression"] == [
        "Bundle.entry[4].resource.status"
    ]
    assert _types() == ["clinical.patient.admitted"]
    top = Submission.objects.get(bundle__isnull=True)
    assert (top.status, top.bundle_type) == ("processed", "batch")
    rows = dict(Submission.objects.filter(bundle=top).values_list("entry_index", "status"))
    assert rows == {
        0: "processed",
        1: "processed",
        2: "processed",
        3: "processed",
        4: "rejected",
        5: "unmapped",
        6: "stored",
        7: "rejected",
    }


def test_a_transaction_is_all_or_nothing(fhir: Any, ward_mapping: None) -> None:
    bad = encounter()
    bad["period"]["start"] = "yesterday"
    data = bundle("transaction", patient(), ward("4E", "w4e"), bed("4E-01", "b1", "w4e"), bad)
    status, body = fhir("/fhir/r4/", data)
    assert status == 422
    assert body["issue"][0]["expression"] == ["Bundle.entry[3].resource.period.start"]
    assert not StoredResource.objects.exists()
    assert not Event.objects.exists()
    assert Submission.objects.get().status == "rejected"

    unmapped = bundle(
        "transaction", patient(), ward("9Z", "w9"), bed("9Z-1", "b9", "w9"), encounter(location="Location/b9")
    )
    status, body = fhir("/fhir/r4/", unmapped)
    assert status == 202
    assert body["issue"][0]["severity"] == "warning"
    assert not StoredResource.objects.exists()  # the Patient and Locations rolled back too
    assert not Event.objects.exists()
    parked = Submission.objects.get(bundle__isnull=True, status="unmapped")
    assert set(parked.entries.values_list("status", flat=True)) == {"unmapped"}

    CodeMapping.objects.create(kind="ward", facility="HIS", external_code="9Z", internal_code="W2")
    assert services.reprocess_due() == 1
    parked.refresh_from_db()
    assert parked.status == "processed"
    assert set(parked.entries.values_list("status", flat=True)) == {"processed"}
    assert _types() == ["clinical.patient.admitted"]
    assert StoredResource.objects.filter(resource_type="Location").count() == 2

    status, body = fhir("/fhir/r4/", bundle("transaction", observation(oid="o7")))
    assert status == 200, body
    assert body["type"] == "transaction-response"
    assert body["entry"][0]["response"]["status"] == "201 Created"


def test_a_collection_bundle_is_refused(fhir: Any) -> None:
    status, body = fhir("/fhir/r4/", {"resourceType": "Bundle", "type": "collection", "entry": []})
    assert status == 422
    assert body["issue"][0]["expression"] == ["Bundle.type"]


def test_a_bundle_needs_the_bundle_scope_and_each_type(fhir: Any) -> None:
    from medoa.core.access.system_keys import create_system_key

    _k, only_obs = create_system_key(actor=None, name="LIS", system="LIS", scopes=["fhir:Observation"])
    status, _body = fhir("/fhir/r4/", bundle("batch", observation()), key=only_obs)
    assert status == 403
    _k, lis = create_system_key(
        actor=None, name="LIS2", system="LIS", scopes=["fhir:Observation", "fhir:Bundle"]
    )
    status, body = fhir("/fhir/r4/", bundle("batch", patient(), observation()), key=lis)
    assert status == 200
    assert body["entry"][0]["response"]["status"] == "403 Forbidden"


def test_a_cancel_before_the_admission_waits_for_it(fhir: Any, places: None) -> None:
    status, body = fhir("/fhir/r4/Encounter", encounter("cancelled"))
    assert status == 202
    assert body["issue"][0]["code"] == "processing"
    parked = Submission.objects.get(resource_type="Encounter")
    assert parked.reason.startswith("pending")
    assert not Event.objects.exists()
    status, _body = fhir("/fhir/r4/Encounter", encounter("in-progress"))
    assert status == 201
    assert services.reprocess_due() == 1
    parked.refresh_from_db()
    assert parked.status == "processed"
    assert _types() == ["clinical.patient.admitted", "clinical.patient.admission_cancelled"]
    assert Encounter.objects.get(visit_number="V001").status == "cancelled"


def test_what_a_crash_left_received_is_run_again(fhir: Any, places: None, raw_key: str) -> None:
    import json
    from datetime import timedelta

    from django.utils import timezone

    from medoa.core.access.models import SystemApiKey

    key = SystemApiKey.objects.get(name="HIS feed")
    long_ago = timezone.now() - timedelta(minutes=10)
    single = Submission.objects.create(
        api_key=key,
        facility="HIS",
        resource_type="Observation",
        raw=json.dumps(observation(oid="c1")),
        received_at=long_ago,
    )
    batch = Submission.objects.create(
        api_key=key,
        facility="HIS",
        resource_type="Bundle",
        bundle_type="batch",
        received_at=long_ago,
        raw=json.dumps(bundle("batch", encounter(), observation(oid="c2", flag=None))),
    )
    Submission.objects.create(
        api_key=key,
        facility="HIS",
        bundle=batch,
        entry_index=0,
        resource_type="Encounter",
        raw="{}",
        received_at=long_ago,
    )
    fresh = Submission.objects.create(
        api_key=key, facility="HIS", resource_type="Observation", raw=json.dumps(observation(oid="c3"))
    )
    assert services.reprocess_due() == 2
    single.refresh_from_db()
    batch.refresh_from_db()
    fresh.refresh_from_db()
    assert (single.status, batch.status, fresh.status) == ("processed", "processed", "received")
    assert sorted(batch.entries.values_list("entry_index", "status")) == [(0, "processed"), (1, "processed")]
    assert _types().count("clinical.result.received") == 2
    assert "clinical.patient.admitted" in _types()
