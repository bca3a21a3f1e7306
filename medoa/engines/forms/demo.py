"""The form engine's part of the demo hospital: three no-code apps built as an administrator would
build them — a form published through the services and an app on top of it.

* ``further_study`` 进修申请 — a doctor or nurse applies to study at another hospital; the process
  of the same key (科主任 → 科教处) is deployed and linked by the process engine's demo
  (``medoa.engines.flow.demo_apps``), which runs after this loader;
* ``meeting_room`` 院内会议室预约 — anyone books a meeting room; no process, and a conflict rule: two
  bookings of one room may not overlap. Its records are shared (``shared_records``): everyone sees
  every booking, so they can pick a free slot. Two bookings for tomorrow are already there;
* ``new_technique`` 新技术新项目申报 — a clinical department applies for a new technique or project;
  its process (科主任 → 医务处 and 质控办 countersign in parallel → 医务处 final) is linked by the
  process engine's demo too.

``demo_load()`` publishes each form and creates each app that is not there yet (idempotent, all or
nothing), as the demo's system administrator. Registered as the demo loader "forms" (after "org").
"""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from medoa.core.org.models import Staff
from medoa.core.registries import DemoLoader

from . import app_services, services
from .models import App, FormDefinition, FormRecord

DEMO_DESIGNER = "admin"
DEMO_CATEGORY = "示例应用"
REPORT = {"medoa:report": "true"}
ROOMS = [
    {"label": "行政楼一楼第一会议室", "value": "admin-1f"},
    {"label": "行政楼三楼第二会议室", "value": "admin-3f"},
    {"label": "门诊楼六楼学术报告厅", "value": "opd-6f-hall"},
    {"label": "科教楼二楼示教室", "value": "edu-2f"},
]


def date_field(key: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"type": "datetime", "key": key, "subtype": "date", "dateLabel": label, **extra}


def datetime_field(key: str, label: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "datetime",
        "key": key,
        "subtype": "datetime",
        "dateLabel": f"{label}（日期）",
        "timeLabel": f"{label}（时间）",
        "use24h": True,
        "timeInterval": 15,
        "timeSerializingFormat": "no_timezone",
        **extra,
    }


FURTHER_STUDY_SCHEMA: dict[str, Any] = {
    "type": "default",
    "id": "further_study",
    "schemaVersion": 16,
    "components": [
        {"type": "medoa-staff", "key": "applicant", "label": "申请人", "validate": {"required": True}},
        {
            "type": "medoa-department",
            "key": "department",
            "label": "所在科室",
            "validate": {"required": True},
        },
        {
            "type": "textfield",
            "key": "hospital",
            "label": "进修医院",
            "validate": {"required": True, "maxLength": 100},
            "properties": REPORT,
        },
        {
            "type": "textfield",
            "key": "specialty",
            "label": "进修专业",
            "validate": {"required": True, "maxLength": 60},
            "properties": REPORT,
        },
        date_field("start_date", "开始日期", validate={"required": True}, properties=REPORT),
        date_field("end_date", "结束日期", validate={"required": True}),
        {
            "type": "textarea",
            "key": "reason",
            "label": "进修理由及计划",
            "validate": {"required": True, "minLength": 10, "maxLength": 2000},
        },
        {"type": "medoa-attachment", "key": "attachment", "label": "附件（接收函等）"},
    ],
}

MEETING_ROOM_SCHEMA: dict[str, Any] = {
    "type": "default",
    "id": "meeting_room",
    "schemaVersion": 16,
    "components": [
        {
            "type": "select",
            "key": "room",
            "label": "会议室",
            "values": ROOMS,
            "validate": {"required": True},
            "properties": REPORT,
        },
        {
            "type": "textfield",
            "key": "subject",
            "label": "会议主题",
            "validate": {"required": True, "maxLength": 100},
            "properties": REPORT,
        },
        datetime_field("start", "开始时间", validate={"required": True}, properties=REPORT),
        datetime_field("end", "结束时间", validate={"required": True}),
        {
            "type": "number",
            "key": "attendees",
            "label": "参会人数",
            "validate": {"required": True, "min": 1, "max": 500},
        },
        {"type": "medoa-staff", "key": "host", "label": "主持人", "validate": {"required": True}},
    ],
}

NEW_TECHNIQUE_SCHEMA: dict[str, Any] = {
    "type": "default",
    "id": "new_technique",
    "schemaVersion": 16,
    "components": [
        {
            "type": "textfield",
            "key": "project_name",
            "label": "项目名称",
            "validate": {"required": True, "maxLength": 100},
            "properties": REPORT,
        },
        {
            "type": "select",
            "key": "category",
            "label": "类别",
            "values": [
                {"label": "新技术（本院首次开展的诊疗技术）", "value": "technique"},
                {"label": "新项目（本院首次开展的诊疗项目）", "value": "project"},
                {"label": "限制类技术", "value": "restricted"},
            ],
            "validate": {"required": True},
            "properties": REPORT,
        },
        {
            "type": "textarea",
            "key": "description",
            "label": "项目简介（适应证、技术路线、国内外开展情况）",
            "validate": {"required": True, "minLength": 10, "maxLength": 4000},
        },
        {
            "type": "textarea",
            "key": "risk_assessment",
            "label": "风险评估及应急预案",
            "validate": {"required": True, "minLength": 10, "maxLength": 4000},
        },
        {"type": "medoa-attachment", "key": "attachment", "label": "附件（可行性报告、伦理审查意见等）"},
    ],
}

# (form key, form name, schema)
DEMO_FORMS = (
    ("further_study", "进修申请", FURTHER_STUDY_SCHEMA),
    ("meeting_room", "院内会议室预约", MEETING_ROOM_SCHEMA),
    ("new_technique", "新技术新项目申报", NEW_TECHNIQUE_SCHEMA),
)

# slug → the app (the form key is the slug; processes are linked by the process engine's demo)
DEMO_APPS: dict[str, app_services.AppSpec] = {
    "further_study": app_services.AppSpec(
        name="进修申请",
        form="further_study",
        description="医师、护士申请赴外院进修：科主任审核后由科教处审批。",
        icon="study",
        list_columns=["hospital", "specialty", "start_date", "end_date"],
        roles=["doctor", "nurse", "head_nurse", "dept_head", "education_office"],
        menu_order=10,
    ),
    "meeting_room": app_services.AppSpec(
        name="院内会议室预约",
        form="meeting_room",
        description="预约院内会议室；同一会议室同一时段只能有一个有效预约。",
        icon="room",
        list_columns=["room", "subject", "start", "end", "host"],
        roles=[],
        menu_order=20,
        conflict_resource="room",
        conflict_start="start",
        conflict_end="end",
        shared_records=True,
    ),
    "new_technique": app_services.AppSpec(
        name="新技术新项目申报",
        form="new_technique",
        description="临床科室申报新技术、新项目：科主任审核，医务处与质控办会签，医务处终审。",
        icon="technique",
        list_columns=["project_name", "category"],
        roles=["doctor", "dept_head", "medical_affairs", "quality_office"],
        menu_order=30,
    ),
}
# slug → the process that starts its records (deployed by ``medoa.engines.flow.demo_apps``)
DEMO_APP_PROCESSES = {"further_study": "further_study", "new_technique": "new_technique"}


def _bookings() -> list[tuple[str, dict[str, Any]]]:
    """(booker's username, values) of the bookings already made: two rooms, tomorrow."""
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    return [
        (
            "card_head",
            {
                "room": "admin-3f",
                "subject": "心血管内科科务会",
                "start": f"{tomorrow}T09:00",
                "end": f"{tomorrow}T10:30",
                "attendees": 18,
            },
        ),
        (
            "card_doc1",
            {
                "room": "opd-6f-hall",
                "subject": "胸痛中心病例讨论",
                "start": f"{tomorrow}T14:00",
                "end": f"{tomorrow}T16:00",
                "attendees": 60,
            },
        ),
    ]


def _user(username: str) -> Any:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ImproperlyConfigured(
            f"the forms demo needs the demo hospital's {username!r} (the 'org' loader)"
        )
    return user


@transaction.atomic
def demo_load(*, password: str) -> None:
    """Publish the demo forms and create the demo apps that are not there yet (all or nothing).
    ``password`` is the demo loaders' common argument; the form engine has no accounts."""
    admin = _user(DEMO_DESIGNER)
    existing = set(
        FormDefinition.objects.filter(key__in=[k for k, *_ in DEMO_FORMS]).values_list("key", flat=True)
    )
    for key, name, schema in DEMO_FORMS:
        if key not in existing:
            services.form_schema_publish(
                actor=admin, schema=schema, key=key, name=name, category=DEMO_CATEGORY
            )
    apps = set(App.objects.filter(slug__in=DEMO_APPS).values_list("slug", flat=True))
    for slug, spec in DEMO_APPS.items():
        if slug not in apps:
            app_services.app_create(actor=admin, slug=slug, spec=spec)
    if not FormRecord.objects.filter(definition__key="meeting_room").exists():
        for username, values in _bookings():
            user = _user(username)
            staff = Staff.objects.get(user=user)
            services.record_submit(actor=user, key="meeting_room", data={**values, "host": staff.pk})


DEMO_LOADER = DemoLoader("forms", demo_load, order=15, depends_on=("org",))
