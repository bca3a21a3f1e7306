"""The demo rules (the brief's examples), loaded by the ``rules`` demo loader:

1. 证书到期提醒 — ``hr.certificate.expiring`` (published by HR systems through the API and by a daily
   check): when the certificate expires within 30 days, notify the person named in the payload and
   人事处 (the holders of the role ``hr``) with the message template ``rules.certificate_expiring``.
   ENABLED.
2. 危急值告警 — ``clinical.critical_value.received``: a template, DISABLED. The critical-value loop
   itself (alert the attending doctor, acknowledgement within a limit, escalation to the department
   head and 医务处, 处置措施, timeliness) is the quality module's (``/quality/critical-values/``);
   enabling this rule would notify the doctor twice. It shows how a rule reads that event's fields.
3. 手术室超时协调 — the operating-room overrun event: a template, DISABLED; its references (the
   event type, the process to start) are checked when someone enables it.

Loading is idempotent: a rule is created once per ``template_key``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from medoa.core.notify.templating import MessageTemplateSpec
from medoa.core.registries import DemoLoader

from .models import Rule
from .services import rule_create

DEMO_DESIGNER = "admin"

CERTIFICATE_TEMPLATE = MessageTemplateSpec(
    key="rules.certificate_expiring",
    kind="reminder",
    title_zh="证书即将到期：{certificate}",
    body_zh="{staff} 的{certificate}将于 {expires_on} 到期，请及时办理延续。",
    title_en="Certificate expiring: {certificate}",
    body_en="{staff}'s {certificate} expires on {expires_on}; please arrange its renewal.",
)

DEMO_RULES: tuple[dict[str, Any], ...] = (
    {
        "template_key": "demo.certificate_expiring",
        "name": "证书 30 天内到期提醒本人和人事处",
        "description": (
            "员工证书在 30 天内到期时，通知本人和人事处。事件 hr.certificate.expiring 由人事系统"
            "（通过 API）和每日检查发布。"
        ),
        "trigger_kind": "event",
        "event_type": "hr.certificate.expiring",
        "condition": "date(payload.expires_on) <= today() + days(30)",
        "actions": [
            {
                "type": "rules.notify",
                "params": {
                    "payload_fields": ["staff"],
                    "roles": ["hr"],
                    "template": "rules.certificate_expiring",
                },
            }
        ],
        "priority": 100,
        "enabled": True,
    },
    {
        "template_key": "demo.critical_value",
        "name": "危急值告警示例：通知主管医生确认（模板；危急值闭环由医疗质量模块处理）",
        "description": (
            "模板，未启用：危急值闭环（通知主管医生、限时确认、升级科主任和医务处、处置措施、及时率）由"
            "医疗质量模块（/quality/critical-values/）处理；启用本规则会重复通知医生。事件字段："
            "attending_doctor、patient_initials、ward、bed、test_name、value、unit、flag。"
        ),
        "trigger_kind": "event",
        "event_type": "clinical.critical_value.received",
        "condition": "",
        "actions": [
            {
                "type": "rules.supervise",
                "params": {
                    "payload_fields": ["attending_doctor"],
                    "title": "危急值：{patient_initials} {ward}-{bed} {test_name} {value}{unit}（{flag}）",
                    "body": "请立即处理并确认收到。",
                    "kind": "alert",
                    "urgent": True,
                    "ack_within_minutes": 10,
                    "escalate_roles": ["dept_head"],
                },
            }
        ],
        "priority": 10,
        "enabled": False,
    },
    {
        "template_key": "demo.or_overrun",
        "name": "手术室超出计划结束 30 分钟启动协调流程（模板）",
        "description": (
            "模板，未启用：手术超时协调（通知下一台手术团队和麻醉科、改期选项）由医疗资源模块处理；"
            "本规则示范如何用事件 resources.or.overrun（字段 room、minutes_over、coordinator）"
            "启动一个自定义的协调流程 or_coordination（需先设计并部署）。"
        ),
        "trigger_kind": "event",
        "event_type": "resources.or.overrun",
        "condition": "payload.minutes_over >= 30",
        "actions": [
            {
                "type": "flow.start",
                "params": {
                    "process": "or_coordination",
                    "initiator_field": "coordinator",
                    "variables": {"room": "payload.room", "minutes_over": "payload.minutes_over"},
                    "business_key": "or-overrun-{event_id}",
                    "title": "手术室 {room} 超时 {minutes_over} 分钟",
                },
            }
        ],
        "priority": 50,
        "enabled": False,
    },
)


@transaction.atomic
def demo_load(*, password: str) -> None:
    """Create the demo rules that are not there yet. ``password`` is the loaders' common argument."""
    admin = get_user_model().objects.filter(username=DEMO_DESIGNER).first()
    if admin is None:
        raise ImproperlyConfigured(
            f"the rules demo needs the demo hospital's {DEMO_DESIGNER!r} (the 'org' loader)"
        )
    existing = set(Rule.objects.exclude(template_key="").values_list("template_key", flat=True))
    for spec in DEMO_RULES:
        if spec["template_key"] in existing:
            continue
        data = {k: v for k, v in spec.items() if k != "template_key"}
        rule_create(actor=admin, data=data, template_key=spec["template_key"])


DEMO_LOADER = DemoLoader("rules", demo_load, order=30, depends_on=("org", "flow"))
