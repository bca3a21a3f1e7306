from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, register
from medoa.core.registries import DemoLoader, MenuEntry, PeriodicJob, demo_loaders, menu, periodic_jobs

ALL = DataScope.ALL

PERMISSIONS = (
    Permission(
        "integration.message.view",
        _("See received HL7 messages (the message store)"),
        defaults={"sys_admin": ALL, "it": ALL},
        group="integration",
    ),
    Permission(
        "integration.message.manage",
        _("Reprocess HL7 messages and manage MLLP senders"),
        defaults={"sys_admin": ALL, "it": ALL},
        group="integration",
    ),
)

MENU = (
    MenuEntry(
        "hl7.messages",
        _("HL7 messages"),
        "hl7:message_list",
        group="admin",
        order=60,
        permission="integration.message.view",
    ),
    MenuEntry(
        "hl7.mappings",
        _("Code mappings"),
        "hl7:mapping_list",
        group="admin",
        order=61,
        permission="clinical.code_mapping.manage",
    ),
    MenuEntry(
        "hl7.senders",
        _("MLLP senders"),
        "hl7:sender_list",
        group="admin",
        order=62,
        permission="integration.message.manage",
    ),
)

# The processor thread is (re)started by this job; the thread itself wakes on every stored message.
PROCESS_JOB_SECONDS = 1.0


class Hl7Config(AppConfig):
    name = "medoa.integration.hl7"
    label = "hl7"
    verbose_name = _("HL7 v2")

    def ready(self) -> None:
        from .demo import demo_load
        from .processing import processing_job

        for permission in PERMISSIONS:
            register(permission)
        for entry in MENU:  # CLIN: the message store, code mappings and MLLP senders pages
            menu.register(entry.key, entry)
        periodic_jobs.register(
            "hl7.process", PeriodicJob("hl7.process", processing_job, every_seconds=PROCESS_JOB_SECONDS)
        )
        # MLLP: the demo's allow-list (loopback, any facility).
        demo_loaders.register("hl7", DemoLoader("hl7", demo_load, order=90))
