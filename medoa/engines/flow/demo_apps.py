"""The processes of the demo's no-code apps (the form engine's demo, ``medoa.engines.forms.demo``,
publishes their forms and creates the apps first):

* ``further_study`` 进修申请 — start form ``medoa:form:further_study``; 科主任审核 (``dept_head``),
  then 科教处审批 (``education_office``); the approvers see the application read-only;
* ``new_technique`` 新技术新项目申报 — start form ``medoa:form:new_technique``; 科主任审核, then
  医务处 (``medical_affairs``) and 质控办 (``quality_office``) countersign in parallel (either one's
  rejection ends it), then 医务处审批 decides.

``demo_load()`` deploys each model that is not deployed yet and links the app of the same slug to
it (``app_process_set``), so "New" on the app's page starts the process. Idempotent and all or
nothing; registered as the demo loader "flow-apps", after "forms" and "flow".
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from medoa.core.registries import DemoLoader
from medoa.engines.forms import app_services
from medoa.engines.forms.demo import DEMO_APP_PROCESSES
from medoa.engines.forms.models import App

from . import services
from .demo import DEMO_DESIGNER, DemoModel
from .models import ProcessDefinition

DEMO_CATEGORY = "示例应用"
DEMO_APP_MODELS = (DemoModel("further_study"), DemoModel("new_technique"))


@transaction.atomic
def demo_load(*, password: str) -> None:
    """Deploy the apps' processes and link the apps to them (what is missing only)."""
    admin = get_user_model().objects.filter(username=DEMO_DESIGNER).first()
    if admin is None:
        raise ImproperlyConfigured(
            "the flow apps demo needs the demo hospital's administrator (the 'org' loader)"
        )
    deployed = set(
        ProcessDefinition.objects.filter(key__in=[m.key for m in DEMO_APP_MODELS]).values_list(
            "key", flat=True
        )
    )
    for model in DEMO_APP_MODELS:
        if model.key not in deployed:
            services.definition_deploy(actor=admin, xml=model.xml(), key=model.key, category=DEMO_CATEGORY)
    for slug, process_key in DEMO_APP_PROCESSES.items():
        app = App.objects.filter(slug=slug).first()
        if app is not None and not app.process_key:
            app_services.app_process_set(actor=admin, slug=slug, process_key=process_key)


DEMO_APPS_LOADER = DemoLoader("flow-apps", demo_load, order=30, depends_on=("forms", "flow"))
