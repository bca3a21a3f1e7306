from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, register
from medoa.core.registries import (
    MenuEntry,
    PeriodicJob,
    WorkbenchCard,
    demo_loaders,
    menu,
    periodic_jobs,
    workbench_cards,
)

ALL = DataScope.ALL
TREE = DataScope.DEPARTMENT_TREE

PERMISSIONS = (
    Permission(
        "quality.critical.view",
        _("See critical values and their timeliness"),
        defaults={
            "medical_affairs": ALL,
            "quality_office": ALL,
            "sys_admin": ALL,
            "dept_head": TREE,
            "head_nurse": TREE,
        },
        group="quality",
    ),
    Permission(
        "quality.critical.manage",
        _("Act on any critical value (acknowledge, close)"),
        defaults={"sys_admin": ALL},
        group="quality",
    ),
    Permission(
        "quality.critical.configure",
        _("Set the critical-value time limits"),
        defaults={"sys_admin": ALL, "medical_affairs": ALL, "quality_office": ALL},
        group="quality",
    ),
)

MENU = (
    MenuEntry("quality.critical", _("Critical values"), "quality:critical_list", group="quality", order=10),
    MenuEntry(
        "quality.critical_limits",
        _("Critical-value time limits"),
        "quality:limit_list",
        group="quality",
        order=20,
        permission="quality.critical.configure",
    ),
)


class QualityConfig(AppConfig):
    name = "medoa.modules.quality"
    label = "quality"
    verbose_name = _("Quality and safety")

    def ready(self) -> None:
        from medoa.core.events.registry import Subscriber, subscribers
        from medoa.core.notify.templating import MessageTemplateSpec, message_templates

        from . import conf
        from .cards import my_critical_values_card
        from .demo import DEMO_LOADER
        from .services import TEMPLATE_ALERT, TEMPLATE_ESCALATED, alerts_escalate, critical_value_received

        for permission in PERMISSIONS:
            register(permission)
        for entry in MENU:
            menu.register(entry.key, entry)
        demo_loaders.register(DEMO_LOADER.key, DEMO_LOADER)
        subscribers.register(
            Subscriber(
                "quality.critical_value_alert",
                ("clinical.critical_value.received",),
                critical_value_received,
                label=_("Alert the responsible doctor to a critical value"),
            )
        )
        periodic_jobs.register(
            "quality.critical_escalate",
            PeriodicJob("quality.critical_escalate", alerts_escalate, conf.job_seconds()),
        )
        workbench_cards.register(
            "quality.my_critical_values",
            WorkbenchCard(
                key="quality.my_critical_values",
                title=_("My critical values"),
                template="quality/card_critical.html",
                context=my_critical_values_card,
                order=1,
                roles=("doctor", "dept_head", "head_nurse", "medical_affairs"),
            ),
        )
        message_templates.register(
            TEMPLATE_ALERT,
            MessageTemplateSpec(
                key=TEMPLATE_ALERT,
                kind="critical",
                title_zh="危急值：{patient} {where} {test} {value} ({flag})",
                body_zh=(
                    "参考范围 {range}。请在 {minutes} 分钟内（{due} 前）确认收到并处置，否则将升级至科主任。"
                ),
                title_en="Critical value: {patient} {where} {test} {value} ({flag})",
                body_en=(
                    "Reference range {range}. Acknowledge within {minutes} minutes (by {due}) and act, "
                    "or it is escalated to the department head."
                ),
            ),
        )
        message_templates.register(
            TEMPLATE_ESCALATED,
            MessageTemplateSpec(
                key=TEMPLATE_ESCALATED,
                kind="critical",
                title_zh="危急值未确认（升级 {level} 级）：{patient} {where} {test} {value} ({flag})",
                body_zh="{since} 通知的危急值未在时限内确认（负责医生：{responsible}）。请立即跟进处置。",
                title_en=(
                    "Critical value not acknowledged (escalation {level}): "
                    "{patient} {where} {test} {value} ({flag})"
                ),
                body_en=(
                    "The critical value notified at {since} was not acknowledged in time (responsible: "
                    "{responsible}). Follow it up now."
                ),
            ),
        )
