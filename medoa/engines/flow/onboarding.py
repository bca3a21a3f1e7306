"""新员工入职: the onboarding process, started by the HR feed's ``hr.employee.hired``.

The model is ``demo_models/onboarding.bpmn`` (process id and key ``onboarding``): an automatic step
that confirms the staff record and account (``onboarding.account_ensure``), then 信息中心
(``it``: network and system access), 后勤 (``logistics``: badge, uniform, locker) and 人事处
(``hr``: contract) in parallel, then by position kind — doctor: 科教处 training and 医务处
prescription rights in parallel; nurse: 护理部 training, then the head nurse; everyone else: the
department head's introduction, then 信息中心's office-system permissions.

The subscriber ``flow.onboarding_start`` starts it for each hire: it first applies the event to the
staff record itself (``core.org.hr_feed.employee_hired_apply``, idempotent by employee number, so
it does not depend on the order in which the two subscribers run), then starts an instance with the
new employee as initiator and ``onboarding:<employee number>`` as business key — unless one with
that key exists (a repeated or corrected hire never starts a second onboarding). When no
``onboarding`` process is deployed (outside the demo, until an administrator deploys the model) it
does nothing else; the demo loader ``flow.onboarding`` deploys it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from medoa.core.events.models import Event
from medoa.core.events.registry import Subscriber, subscribers
from medoa.core.org.hr_feed import EVENT_TYPE_NAME, HR_EMPLOYEE_HIRED, EmployeeHired, employee_hired_apply
from medoa.core.org.models import Staff
from medoa.core.registries import DemoLoader, demo_loaders

from . import services
from .models import ProcessDefinition, ProcessInstance
from .registry import service_functions

logger = logging.getLogger(__name__)

PROCESS_KEY: Final = "onboarding"
MODEL_PATH: Final = Path(__file__).resolve().parent / "demo_models" / "onboarding.bpmn"
ACCOUNT_FUNCTION: Final = "onboarding.account_ensure"
DEMO_DESIGNER: Final = "admin"
DEMO_CATEGORY: Final = "人事"


def business_key(employee_no: str) -> str:
    return f"{PROCESS_KEY}:{employee_no}"


def account_ensure(variables: dict[str, Any]) -> dict[str, Any]:
    """Service task ``onboarding.account_ensure``: the staff record and account of
    ``employee_no`` exist (the HR feed made them); sets ``username``, ``name``,
    ``department_name`` and ``account_ready``. Fails (and is retried) while they do not."""
    employee_no = str(variables.get("employee_no") or "")
    staff = (
        Staff.objects.select_related("user", "department").filter(employee_no__iexact=employee_no).first()
        if employee_no
        else None
    )
    if staff is None:
        raise LookupError(f"no staff record with employee number {employee_no!r}")
    if not staff.user.is_active:
        raise LookupError(f"the account of {employee_no!r} is switched off")
    return {
        "username": staff.user.username,
        "name": staff.name,
        "department": staff.department.code,
        "department_name": staff.department.name_zh,
        "account_ready": True,
    }


def _deployed() -> bool:
    return ProcessDefinition.objects.filter(
        key=PROCESS_KEY, is_active=True, latest_version__isnull=False
    ).exists()


@transaction.atomic
def onboarding_start(
    *, data: EmployeeHired, actor_name: str = "", event_id: int | None = None
) -> ProcessInstance | None:
    """Apply the hire to the staff record, then start its onboarding unless one exists (or the
    process is not deployed). Returns the instance started, or ``None``."""
    result = employee_hired_apply(data=data, actor_name=actor_name, event_id=event_id)
    if not _deployed():
        logger.info("hr.employee.hired %s: no %r process is deployed; no onboarding", event_id, PROCESS_KEY)
        return None
    # The staff row is locked (employee_hired_apply): two hires of one person wait for each other.
    staff = (
        Staff.objects.select_for_update(of=("self",))
        .select_related("user", "department")
        .get(pk=result.staff.pk)
    )
    key = business_key(staff.employee_no)
    if ProcessInstance.objects.filter(definition__key=PROCESS_KEY, business_key=key).exists():
        return None
    variables = {
        "employee_no": staff.employee_no,
        "username": staff.user.username,
        "name": staff.name,
        "department": staff.department.code,
        "department_name": staff.department.name_zh,
        "position_kind": data.position_kind or "admin",
        "title": staff.title,
        "hire_date": staff.hire_date.isoformat() if staff.hire_date else "",
        "hr_event": event_id,
    }
    title = _("Onboarding: %(name)s, %(department)s") % {
        "name": staff.name,
        "department": staff.department.name,
    }
    return services.instance_start(
        actor=staff.user, definition_key=PROCESS_KEY, variables=variables, business_key=key, title=title
    )


def handle_employee_hired(event: Event) -> None:
    """Subscriber ``flow.onboarding_start``."""
    data = HR_EMPLOYEE_HIRED.parse(event.payload)
    assert isinstance(data, EmployeeHired)
    onboarding_start(data=data, actor_name=event.actor_name, event_id=event.pk)


ONBOARDING_SUBSCRIBER: Final = Subscriber(
    "flow.onboarding_start",
    (EVENT_TYPE_NAME,),
    handle_employee_hired,
    label=gettext_lazy("Start the onboarding process of a new employee"),
)


@transaction.atomic
def demo_load(*, password: str) -> None:
    """Demo loader ``flow.onboarding``: deploy the onboarding model once (as the demo
    administrator). ``password`` is the loaders' common argument."""
    if ProcessDefinition.objects.filter(key=PROCESS_KEY).exists():
        return
    designer = get_user_model().objects.filter(username=DEMO_DESIGNER).first()
    if designer is None:
        raise ImproperlyConfigured(
            "the onboarding demo needs the demo hospital's administrator (the 'org' loader)"
        )
    services.definition_deploy(
        actor=designer, xml=MODEL_PATH.read_text(encoding="utf-8"), key=PROCESS_KEY, category=DEMO_CATEGORY
    )


DEMO_LOADER: Final = DemoLoader("flow.onboarding", demo_load, order=25, depends_on=("org", "flow"))


def register_onboarding() -> None:
    """Called from ``FlowConfig.ready()``."""
    service_functions.register(ACCOUNT_FUNCTION, account_ensure)
    subscribers.register(ONBOARDING_SUBSCRIBER)
    demo_loaders.register(DEMO_LOADER.key, DEMO_LOADER)
