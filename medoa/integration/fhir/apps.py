from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, permissions, register
from medoa.core.registries import MenuEntry, PeriodicJob, menu, periodic_jobs

ALL = DataScope.ALL

# Shared with the HL7 message store: whoever registers them first (hl7 loads before fhir) wins.
PERMISSIONS = (
    Permission(
        "integration.message.view",
        _("See the messages received from clinical systems (HL7, FHIR)"),
        defaults={"sys_admin": ALL, "it": ALL},
        group="integration",
    ),
    Permission(
        "integration.message.manage",
        _("Process received clinical messages again"),
        defaults={"sys_admin": ALL, "it": ALL},
        group="integration",
    ),
)

MENU = (
    MenuEntry(
        "fhir.submissions",
        _("FHIR submissions"),
        "fhir:submission_list",
        group="admin",
        order=62,
        permission="integration.message.view",
    ),
)

REPROCESS_SECONDS = 30.0


class FhirConfig(AppConfig):
    """FHIR R4 receiving endpoints: Encounter, Observation, Patient, Practitioner, Location and
    batch/transaction Bundles, mapped to the clinical facts."""

    name = "medoa.integration.fhir"
    label = "fhir"
    verbose_name = _("FHIR R4")

    def ready(self) -> None:
        from .services import reprocess_due

        for permission in PERMISSIONS:
            if permission.code not in permissions:
                register(permission)
        for entry in MENU:
            menu.register(entry.key, entry)
        periodic_jobs.register(
            "fhir.reprocess",
            PeriodicJob(key="fhir.reprocess", run=reprocess_due, every_seconds=REPROCESS_SECONDS),
        )
