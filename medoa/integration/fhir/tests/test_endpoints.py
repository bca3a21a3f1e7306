"""The FHIR endpoints: authentication, scopes, content type, size, validation errors as
OperationOutcomes naming the element, and the CapabilityStatement."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from fhir.resources.R4B import get_fhir_model_class

from medoa.core.access.system_keys import create_system_key, revoke_system_key
from medoa.core.events.models import Event
from medoa.integration.fhir.models import StoredResource, Submission

from .resources import encounter, patient

pytestmark = pytest.mark.django_db


def test_metadata_is_a_capability_statement_of_the_five_types() -> None:
    response = Client().get("/fhir/r4/metadata")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    get_fhir_model_class("CapabilityStatement").model_validate(body)
    assert body["resourceType"] == "CapabilityStatement"
    assert body["fhirVersion"] == "4.0.1"
    assert [r["type"] for r in body["rest"][0]["resource"]] == [
        "Encounter",
        "Observation",
        "Patient",
        "Practitioner",
        "Location",
    ]
    assert {i["code"] for i in body["rest"][0]["interaction"]} == {"batch", "transaction"}


def test_without_a_key_401_and_nothing_stored(fhir: Any) -> None:
    status, body = fhir("/fhir/r4/Patient", patient(), key=None)
    assert status == 401
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "login"
    assert Submission.objects.count() == 0


def test_an_unknown_or_revoked_key_401(fhir: Any) -> None:
    status, _body = fhir("/fhir/r4/Patient", patient(), key="msk_0000dead_" + "x" * 40)
    assert status == 401
    key, raw = create_system_key(actor=None, name="old", system="HIS", scopes=["fhir:*"])
    revoke_system_key(actor=None, key=key)
    status, _body = fhir("/fhir/r4/Patient", patient(), key=raw)
    assert status == 401
    assert Submission.objects.count() == 0


def test_x_api_key_header_works(fhir: Any, raw_key: str) -> None:
    status, body = fhir("/fhir/r4/Patient", patient(), key=None, x_api_key=raw_key)
    assert status == 201, body


def test_a_key_without_the_scope_403_stored_as_rejected(fhir: Any) -> None:
    _key, raw = create_system_key(actor=None, name="LIS", system="LIS", scopes=["fhir:Observation"])
    status, body = fhir("/fhir/r4/Patient", patient(), key=raw)
    assert status == 403
    assert body["issue"][0]["code"] == "forbidden"
    assert "fhir:Patient" in body["issue"][0]["diagnostics"]
    sub = Submission.objects.get()
    assert (sub.status, sub.http_status, sub.resource_type) == ("rejected", 403, "Patient")
    assert StoredResource.objects.count() == 0


def test_fhir_star_pattern_allows_every_type(fhir: Any) -> None:
    _key, raw = create_system_key(actor=None, name="all", system="HIS", scopes=["fhir:*"])
    status, _body = fhir("/fhir/r4/Patient", patient(), key=raw)
    assert status == 201


def test_wrong_content_type_415(fhir: Any) -> None:
    status, body = fhir("/fhir/r4/Patient", "<Patient/>", content_type="application/xml")
    assert status == 415
    assert body["issue"][0]["code"] == "not-supported"


def test_plain_application_json_is_accepted(fhir: Any) -> None:
    status, _body = fhir("/fhir/r4/Patient", patient(), content_type="application/json; charset=utf-8")
    assert status == 201


def test_too_large_413(fhir: Any, settings: Any) -> None:
    settings.MEDOA_FHIR_MAX_BYTES = 200
    status, body = fhir("/fhir/r4/Patient", patient())
    assert status == 413
    assert body["issue"][0]["code"] == "too-costly"
    assert Submission.objects.count() == 0


def test_get_on_a_resource_endpoint_405(raw_key: str) -> None:
    response = Client().get("/fhir/r4/Patient", HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_not_json_400_stored_with_the_reason(fhir: Any) -> None:
    status, body = fhir("/fhir/r4/Patient", b'{"resourceType": "Patient",')
    assert status == 400
    assert body["issue"][0]["code"] == "structure"
    sub = Submission.objects.get()
    assert sub.status == "rejected"
    assert "not JSON" in sub.reason
    assert sub.raw == '{"resourceType": "Patient",'


def test_resource_type_must_match_the_endpoint_400(fhir: Any) -> None:
    status, body = fhir("/fhir/r4/Encounter", patient())
    assert status == 400
    assert body["issue"][0]["expression"] == ["resourceType"]


def test_an_invalid_element_422_naming_it(fhir: Any) -> None:
    res = patient()
    res["birthDate"] = "1960-13-45"
    res["nickname"] = "x"
    status, body = fhir("/fhir/r4/Patient", res)
    assert status == 422
    expressions = [i["expression"][0] for i in body["issue"]]
    assert "Patient.birthDate" in expressions
    assert "Patient.nickname" in expressions
    assert Submission.objects.get().status == "rejected"


def test_an_encounter_status_outside_r4_422(fhir: Any, ward_mapping: None) -> None:
    status, body = fhir("/fhir/r4/Encounter", encounter("admitted"))
    assert status == 422
    assert body["issue"][0]["expression"] == ["Encounter.status"]
    assert not Event.objects.exists()


def test_an_unsupported_type_404_stored(fhir: Any) -> None:
    status, body = fhir("/fhir/r4/DiagnosticReport", {"resourceType": "DiagnosticReport"})
    assert status == 404
    assert body["issue"][0]["code"] == "not-supported"
    assert Submission.objects.get().status == "rejected"


def test_csrf_is_not_required(raw_key: str) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/fhir/r4/Patient",
        data=patient(),
        content_type="application/fhir+json",
        HTTP_AUTHORIZATION=f"Bearer {raw_key}",
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"resourceType": "Patient", "extension": '
        + b'[{"url": "http://x", "extension": ' * 3000
        + b"[]"
        + b"}]" * 3000
        + b"}",
        b"\xff\xfe\x00junk",
        b" ",
        b"null",
        b'{"resourceType": 42}',
    ],
)
def test_malformed_bodies_are_refused_not_crashed(fhir: Any, body: bytes) -> None:
    status, answer = fhir("/fhir/r4/Patient", body)
    assert status == 400
    assert answer["issue"][0]["severity"] == "error"
    assert Submission.objects.get().status == "rejected"
