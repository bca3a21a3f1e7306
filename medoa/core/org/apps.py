from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, register
from medoa.core.registries import MenuEntry, PeriodicJob, WorkbenchCard, menu, periodic_jobs, workbench_cards

ALL = DataScope.ALL
TREE = DataScope.DEPARTMENT_TREE

PERMISSIONS = (
    Permission(
        "org.directory.view",
        _("See the staff directory (name, department, title, office phone)"),
        defaults={"*": ALL},
        group="org",
    ),
    Permission(
        "org.staff.view",
        _("See staff records"),
        defaults={"hr": ALL, "sys_admin": ALL, "dept_head": TREE, "head_nurse": TREE},
        group="org",
    ),
    Permission(
        "org.staff.view_private",
        _("See national ID and personal phone"),
        defaults={"hr": ALL},
        group="org",
    ),
    Permission(
        "org.staff.manage",
        _("Create, edit, import and deactivate staff"),
        defaults={"hr": ALL, "sys_admin": ALL},
        group="org",
    ),
    Permission(
        "org.department.manage",
        _("Edit the department tree"),
        defaults={"sys_admin": ALL, "hr": ALL},
        group="org",
    ),
    Permission(
        "org.role.assign",
        _("Assign and revoke roles"),
        defaults={"sec_admin": ALL},
        group="org",
    ),
    Permission(
        "org.certificate.manage",
        _("Add, edit and remove staff certificates"),
        defaults={"hr": ALL},
        group="org",
    ),
    Permission(
        "org.delegation.manage",
        _("Manage other people's delegations"),
        defaults={"hr": ALL, "dept_head": TREE},
        group="org",
    ),
)


class OrgConfig(AppConfig):
    name = "medoa.core.org"
    label = "org"
    verbose_name = _("Organisation")

    def ready(self) -> None:
        # Imported here because they need the app registry (models) to be ready.
        from .cards import certificates_card_context, delegations_card_context
        from .events import register_event_types
        from .roles import ensure_builtin_roles
        from .services import CERTIFICATE_CHECK_SECONDS, certificates_check_expiring

        register_event_types()
        post_migrate.connect(ensure_builtin_roles, sender=self, dispatch_uid="org.ensure_builtin_roles")
        for permission in PERMISSIONS:
            register(permission)
        for entry in (
            MenuEntry("org.directory", _("Directory"), "org:directory", icon="book", group="org", order=200),
            MenuEntry(
                "org.delegations",
                _("My delegations"),
                "org:delegation_list",
                icon="share",
                group="org",
                order=210,
            ),
            MenuEntry(
                "org.departments",
                _("Departments"),
                "org:department_tree",
                icon="sitemap",
                group="admin",
                order=600,
                permission="org.department.manage",
            ),
            MenuEntry(
                "org.staff",
                _("Staff"),
                "org:staff_list",
                icon="users",
                group="admin",
                order=610,
                permission="org.staff.view",
            ),
            MenuEntry(
                "org.roles",
                _("Role assignment"),
                "org:role_list",
                icon="key",
                group="admin",
                order=620,
                permission="org.role.assign",
            ),
        ):
            menu.register(entry.key, entry)
        workbench_cards.register(
            "org.delegations",
            WorkbenchCard(
                key="org.delegations",
                title=_("My delegations"),
                template="org/cards/delegations.html",
                context=delegations_card_context,
                order=120,
            ),
        )
        workbench_cards.register(
            "org.certificates",
            WorkbenchCard(
                key="org.certificates",
                title=_("My certificates"),
                template="org/cards/certificates.html",
                context=certificates_card_context,
                order=125,
            ),
        )
        periodic_jobs.register(
            "org.certificates_check",
            PeriodicJob(
                key="org.certificates_check",
                run=certificates_check_expiring,
                every_seconds=CERTIFICATE_CHECK_SECONDS,
            ),
        )
        # The HR feed (issue 6): hr.employee.hired and the subscriber that creates the staff record.
        from .hr_feed import register_hr_feed

        register_hr_feed()
