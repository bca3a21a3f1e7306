"""Fixtures and builders of the form engine's data tests: a small hospital, people holding roles,
a leave form (form-js schema) published through the services, and helpers that count rows.

Test modules import the fixtures they use (``from .factories import hospital, people, ...``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from medoa.core.access.grants import sync_role_grants
from medoa.core.audit.models import AuditEntry
from medoa.core.org.models import Staff
from medoa.core.org.tests.factories import person_maker
from medoa.engines.forms import services
from medoa.engines.forms.models import (
    FormAttachment,
    FormDefinition,
    FormDraft,
    FormRecord,
    FormRecordValue,
    FormVersion,
)

TOTP_SECRET = "JBSWY3DPEHPK3PXP"
REPORT = {"medoa:report": "true"}

LEAVE_SCHEMA: dict[str, Any] = {
    "type": "default",
    "id": "leave_form",
    "schemaVersion": 16,
    "components": [
        {
            "type": "textfield",
            "key": "title",
            "label": "标题",
            "validate": {"required": True, "minLength": 2, "maxLength": 40},
            "properties": REPORT,
        },
        {
            "type": "number",
            "key": "days",
            "label": "天数",
            "validate": {"required": True, "min": 1, "max": 30},
            "properties": REPORT,
        },
        {
            "type": "select",
            "key": "kind",
            "label": "类别",
            "values": [{"label": "年假", "value": "annual"}, {"label": "病假", "value": "sick"}],
            "properties": REPORT,
        },
        {
            "type": "datetime",
            "key": "start",
            "subtype": "date",
            "dateLabel": "开始日期",
            "properties": REPORT,
        },
        {
            "type": "checklist",
            "key": "tags",
            "label": "标签",
            "values": [{"label": "急", "value": "urgent"}, {"label": "夜班", "value": "night"}],
            "properties": REPORT,
        },
        {"type": "textarea", "key": "reason", "label": "事由"},
        {"type": "medoa-staff", "key": "deputy", "label": "代班人"},
        {"type": "medoa-department", "key": "dept", "label": "科室"},
        {"type": "medoa-attachment", "key": "files", "label": "附件"},
    ],
}


def leave_schema(**changes: Any) -> dict[str, Any]:
    schema = copy.deepcopy(LEAVE_SCHEMA)
    schema.update(changes)
    return schema


def counts() -> dict[str, int]:
    """Rows of every form table (and audit entries) — compared before and after refusals."""
    return {
        "definitions": FormDefinition.objects.count(),
        "drafts": FormDraft.objects.count(),
        "versions": FormVersion.objects.count(),
        "records": FormRecord.objects.count(),
        "values": FormRecordValue.objects.count(),
        "bound": FormAttachment.objects.filter(record__isnull=False).count(),
        "attachments": FormAttachment.objects.count(),
        "audit": AuditEntry.objects.count(),
    }


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def upload(
    name: str = "scan.png", content: bytes = PNG, content_type: str = "image/png"
) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture(autouse=False)
def grants(db: Any) -> None:
    sync_role_grants()


@pytest.fixture
def media(tmp_path: Any, settings: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def hospital(department_factory: Any, grants: None) -> SimpleNamespace:
    """H 示范医院 → CARD 心血管内科 → CARD-W1 心内一病区; H → SURG 普外科; H → MA 医务处."""
    root = department_factory(code="H", name_zh="示范医院", name_en="Hospital", kind="hospital")
    cardio = department_factory(code="CARD", name_zh="心血管内科", name_en="Cardiology", parent=root)
    ward = department_factory(
        code="CARD-W1", name_zh="心内一病区", name_en="Cardiology ward 1", kind="ward", parent=cardio
    )
    surgery = department_factory(code="SURG", name_zh="普外科", name_en="General surgery", parent=root)
    office = department_factory(code="MA", name_zh="医务处", name_en="Medical affairs", parent=root)
    return SimpleNamespace(root=root, cardio=cardio, ward=ward, surgery=surgery, office=office)


@pytest.fixture
def person(hospital: SimpleNamespace) -> Callable[..., Staff]:
    return person_maker(default=hospital.ward, root=hospital.root, totp_secret=TOTP_SECRET)


@pytest.fixture
def people(person: Callable[..., Staff], hospital: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(
        nurse=person("nurse", username="nurse_li", name="李护士"),
        nurse2=person("nurse", username="nurse_he", name="何护士"),
        head=person("dept_head", department=hospital.cardio, username="head_wang", name="王主任"),
        surgeon=person("doctor", department=hospital.surgery, username="doc_qian", name="钱医生"),
        office=person("medical_affairs", department=hospital.office, username="ma_zhao", name="赵干事"),
        it=person("it", department=hospital.root, username="it_zhou", name="周工程师"),
    )


@pytest.fixture
def leave(people: SimpleNamespace) -> FormVersion:
    """The leave form, published (version 1) by the IT designer."""
    return services.form_schema_publish(actor=people.it.user, schema=leave_schema(), name="请假单")


def good_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "年休假",
        "days": 3,
        "kind": "annual",
        "start": "2026-03-02",
        "tags": ["night"],
    }
    data.update(changes)
    return data
