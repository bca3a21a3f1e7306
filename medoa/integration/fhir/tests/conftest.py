"""Fixtures of the FHIR tests: a hospital with two wards, a system key, and a client that posts
FHIR JSON with it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from medoa.core.access.grants import sync_role_grants
from medoa.core.access.policy import forget_principal
from medoa.core.access.system_keys import CLINICAL_SCOPES, create_system_key
from medoa.core.clinical.models import CodeMapping
from medoa.core.org.choices import RoleScope
from medoa.core.org.models import Role, RoleAssignment, Staff

TOTP_SECRET = "JBSWY3DPEHPK3PXP"
FACILITY = "HIS"


@pytest.fixture(autouse=True)
def grants(db: Any) -> None:
    sync_role_grants()


@pytest.fixture
def hospital(department_factory: Any) -> dict[str, Any]:
    root = department_factory(code="H", name_zh="示范医院", name_en="Hospital", kind="hospital")
    w1 = department_factory(code="W1", name_zh="一病区", name_en="Ward 1", kind="ward", parent=root)
    w2 = department_factory(code="W2", name_zh="二病区", name_en="Ward 2", kind="ward", parent=root)
    return {"root": root, "w1": w1, "w2": w2}


@pytest.fixture
def person(staff_factory: Any, hospital: dict[str, Any]) -> Callable[..., Staff]:
    def make(*role_codes: str, username: str) -> Staff:
        staff: Staff = staff_factory(department=hospital["w1"], user__username=username)
        for code in role_codes:
            role = Role.objects.get(code=code)
            at = staff.department if role.scope == RoleScope.DEPARTMENT else hospital["root"]
            RoleAssignment.objects.create(staff=staff, role=role, department=at)
        if set(role_codes) & set(settings.MEDOA_TOTP_REQUIRED_ROLES):
            staff.user.totp_secret = TOTP_SECRET
            staff.user.totp_confirmed_at = timezone.now()
            staff.user.save(update_fields=["totp_secret", "totp_confirmed_at"])
        forget_principal(staff.user)
        return staff

    return make


@pytest.fixture
def raw_key(db: Any) -> str:
    _key, raw = create_system_key(actor=None, name="HIS feed", system=FACILITY, scopes=list(CLINICAL_SCOPES))
    return raw


@pytest.fixture
def fhir(raw_key: str) -> Callable[..., Any]:
    """``fhir(path, body, **headers)``: POST FHIR JSON with the key; returns (status, json)."""
    client = Client()

    def post(
        path: str,
        body: Any,
        *,
        key: str | None = raw_key,
        content_type: str = "application/fhir+json",
        **headers: str,
    ) -> tuple[int, dict[str, Any]]:
        extra = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
        extra.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        response = client.post(path, data=data, content_type=content_type, **extra)
        payload = json.loads(response.content) if response.content else {}
        assert response["Content-Type"] == "application/fhir+json; charset=utf-8"
        # every answer is itself valid R4 (an OperationOutcome, or a batch/transaction-response Bundle)
        get_fhir_model_class(payload["resourceType"]).model_validate(payload)
        return response.status_code, payload

    return post


@pytest.fixture
def ward_mapping(hospital: dict[str, Any]) -> None:
    """The HIS's ward codes 4E and 5W map to W1 and W2."""
    CodeMapping.objects.create(kind="ward", facility=FACILITY, external_code="4E", internal_code="W1")
    CodeMapping.objects.create(kind="ward", facility=FACILITY, external_code="5W", internal_code="W2")
