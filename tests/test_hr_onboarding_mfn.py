"""From the HIS to the onboarding, across the layers: an HL7 MFN^M02 staff master-file message sent
with a system API key (scope ``hl7:mfn``) is stored and acknowledged, processed into
``hr.employee.hired``, and the HR feed and the onboarding process take it from there."""

from __future__ import annotations

from typing import Any

import pytest

from medoa.core.access.grants import sync_role_grants
from medoa.core.access.system_keys import create_system_key
from medoa.core.events.dispatcher import dispatch_until_idle
from medoa.core.events.models import Event
from medoa.core.org.models import Staff
from medoa.core.org.tests.factories import staff_with_roles
from medoa.engines.flow import onboarding
from medoa.engines.flow.choices import TaskStatus
from medoa.engines.flow.models import HumanTask, ProcessInstance
from medoa.integration.hl7.processing import process_until_idle
from medoa.integration.hl7.receive import receive

pytestmark = pytest.mark.django_db

MFN = "\r".join(
    [
        "MSH|^~\\&|HIS|DEMO_HOSPITAL|MEDOA|MEDOA|20261126101500||MFN^M02|MFN-0001|P|2.5",
        "MFI|STF^Staff Master File^HL70175||UPD|||NE",
        "MFE|MAD|||D7001^^HIS",
        "STF|D7001|D7001^^HIS|林^晓|MD|F|19950101|A|CARD||13800138000||20260301",
        "MFE|MAD|||N7002^^HIS",
        "STF|N7002|N7002^^HIS|周^敏|RN|F|19980101|A|CARD-W1||||20260301",
    ]
)


@pytest.fixture
def hospital(department_factory: Any) -> Any:
    sync_role_grants()
    root = department_factory(code="H", name_zh="示范医院", name_en="Hospital", kind="hospital")
    cardio = department_factory(code="CARD", name_zh="心血管内科", name_en="Cardiology", parent=root)
    ward = department_factory(
        code="CARD-W1", name_zh="心内一病区", name_en="Ward 1", kind="ward", parent=cardio
    )
    for role, username, where in (
        ("sys_admin", "admin", root),
        ("it", "it1", root),
        ("logistics", "logi1", root),
        ("hr", "hr1", root),
        ("head_nurse", "hn1", ward),
    ):
        staff_with_roles(role, department=where, root=root, user__username=username)
    onboarding.demo_load(password="unused")
    return root


def test_an_mfn_staff_message_hires_and_starts_onboarding(hospital: Any) -> None:
    # Given the HIS's key
    key, _raw = create_system_key(actor=None, name="HIS", scopes=["hl7:mfn"])
    # When it sends the staff master-file message
    ack = receive(MFN.encode("utf-8"), transport="http", peer="127.0.0.1", api_key=key, sender_check=False)
    assert b"MSA|AA|MFN-0001" in ack
    process_until_idle()
    dispatch_until_idle()
    # Then one hire event per staff member, each applied and onboarded
    assert Event.objects.filter(type="hr.employee.hired").count() == 2
    doctor = Staff.objects.select_related("department", "user").get(employee_no="D7001")
    nurse = Staff.objects.select_related("department").get(employee_no="N7002")
    assert (doctor.name, doctor.department.code, doctor.phone) == ("林晓", "CARD", "13800138000")
    assert (nurse.name, nurse.department.code) == ("周敏", "CARD-W1")
    for staff in (doctor, nurse):
        instance = ProcessInstance.objects.get(
            definition__key="onboarding", business_key=f"onboarding:{staff.employee_no}"
        )
        assert instance.initiator == staff
    # the same message again is a duplicate: nothing twice
    receive(MFN.encode("utf-8"), transport="http", peer="127.0.0.1", api_key=key, sender_check=False)
    process_until_idle()
    dispatch_until_idle()
    assert Staff.objects.filter(employee_no__in=["D7001", "N7002"]).count() == 2
    assert ProcessInstance.objects.filter(definition__key="onboarding").count() == 2
    assert (
        HumanTask.objects.filter(status=TaskStatus.OPEN).count() == 0
    )  # the account step runs in the worker


def test_a_key_without_hl7_mfn_is_refused(hospital: Any) -> None:
    key, _raw = create_system_key(actor=None, name="LIS", scopes=["hl7:oru"])
    ack = receive(MFN.encode("utf-8"), transport="http", peer="127.0.0.1", api_key=key, sender_check=False)
    assert b"MSA|AR|MFN-0001" in ack or b"MSA|AE|MFN-0001" in ack
    process_until_idle()
    dispatch_until_idle()
    assert not Staff.objects.filter(employee_no="D7001").exists()
