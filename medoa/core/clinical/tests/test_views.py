"""The inpatients page: initials only, each reader's wards (a head nurse her own, IT every ward)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from medoa.core.access.grants import sync_role_grants
from medoa.core.clinical.facts import EncounterFact, PatientFacts
from medoa.core.clinical.services import apply_encounter
from medoa.core.org.choices import DepartmentKind
from medoa.core.org.tests.factories import staff_with_roles

pytestmark = pytest.mark.django_db
TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def admit(mrn: str, name: str, ward: str, bed: str) -> None:
    apply_encounter(
        EncounterFact(
            kind="admitted",
            patient=PatientFacts(identifier=mrn, name=name),
            visit_number=f"V{mrn}",
            ward_code=ward,
            bed_code=bed,
            occurred_at=datetime(2026, 11, 26, 8, 0, tzinfo=UTC),
            source="test",
            facility="HIS",
        )
    )


def test_inpatients_by_ward(client: Client, department_factory: Any) -> None:
    sync_role_grants()
    root = department_factory(code="H", kind="hospital")
    card = department_factory(code="CARD", kind=DepartmentKind.DEPARTMENT, parent=root)
    w5 = department_factory(code="W5", kind=DepartmentKind.WARD, parent=card, name_zh="心内一病区")
    department_factory(code="W6", kind=DepartmentKind.WARD, parent=card)
    admit("M1", "张^三", "W5", "01")
    admit("M2", "李^四", "W6", "02")
    head_nurse = staff_with_roles("head_nurse", department=w5, root=root)
    it = staff_with_roles("it", department=w5, root=root, totp_secret=TOTP)
    nurse = staff_with_roles("nurse", department=w5, root=root)

    client.force_login(head_nurse.user)
    body = client.get("/clinical/inpatients/").content.decode()
    assert 'data-ward="W5"' in body and 'data-ward="W6"' not in body
    assert "张*" in body and "张^三" not in body and "三" not in body.split('data-ward="W5"')[1]

    client.force_login(it.user)
    body = client.get("/clinical/inpatients/").content.decode()
    assert 'data-ward="W5"' in body and 'data-ward="W6"' in body

    client.force_login(nurse.user)
    assert client.get("/clinical/inpatients/").status_code == 403
