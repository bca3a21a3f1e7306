"""The process engine's part of the demo hospital: three example processes, and a few instances
already under way so that inboxes are not empty at the first login.

The models live in ``demo_models/`` (drawn with their diagrams, so they open in the designer):

* ``general_approval`` 通用审批 — the initiator's department head (``dept_head``), then a vice dean
  when ``amount`` is over 10 000;
* ``leave_simple`` 请假（简版） — the applicant submits, the head nurse (nurses) or the leader one
  level up (everyone else) approves, a vice dean too when ``days`` is over 3;
* ``purchase_countersign`` 采购会签 — the people in ``signers`` countersign in parallel (one
  rejection ends it), then the dean when ``total`` is over 50 000.

``demo_load()`` deploys them as the demo administrator through ``services.definition_deploy`` and
starts the instances in ``DEMO_INSTANCES`` through ``services.instance_start``. It is idempotent
(a definition whose key exists is not deployed again; an instance whose business key exists is not
started again) and all or nothing. It is registered as the demo loader "flow" in
``FlowConfig.ready()``, after "org".
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from medoa.core.registries import DemoLoader

from . import services
from .choices import TaskStatus
from .models import HumanTask, ProcessDefinition, ProcessInstance

DEMO_MODELS_DIR = Path(__file__).resolve().parent / "demo_models"
DEMO_DESIGNER = "admin"  # the demo's system administrator deploys the models
DEMO_CATEGORY = "示例流程"


@dataclass(frozen=True)
class DemoModel:
    """A demo BPMN model: ``key`` is its process id and the name of its file."""

    key: str

    @property
    def path(self) -> Path:
        return DEMO_MODELS_DIR / f"{self.key}.bpmn"

    def xml(self) -> str:
        return self.path.read_text(encoding="utf-8")


DEMO_MODELS = (
    DemoModel("general_approval"),
    DemoModel("leave_simple"),
    DemoModel("purchase_countersign"),
)


@dataclass(frozen=True)
class DemoInstance:
    """An instance to start: who starts it, with which variables, and (``submit_step``) the
    initiator's own first step to complete at once, as the applicant would."""

    business_key: str
    definition_key: str
    initiator: str
    title: str
    variables: dict[str, Any] = field(default_factory=dict)
    submit_step: str = ""
    comment: str = ""


def _in_a_week() -> str:
    return (timezone.localdate() + datetime.timedelta(days=7)).isoformat()


def demo_instances() -> list[DemoInstance]:
    """The instances the demo starts (a leave starts a week from the day the demo is loaded)."""
    return [
        # waits for card_head (the dept_head covering 心内一病区)
        DemoInstance(
            "DEMO-GA-0001",
            "general_approval",
            "card_n01",
            "通用审批：病区购置电子血压计 2 台",
            {"subject": "心内一病区购置电子血压计 2 台，用于夜班巡视", "amount": 3600},
        ),
        # waits for card_head (leader one level above a doctor of 心血管内科), then a vice dean
        DemoInstance(
            "DEMO-LEAVE-0001",
            "leave_simple",
            "card_doc1",
            "请假：何俊 事假 5 天",
            {"days": 5, "leave_type": "事假", "reason": "家中老人住院，需陪护", "start_date": _in_a_week()},
            submit_step="Task_submit",
            comment="请领导审批。",
        ),
        # waits for card_hn (the head nurse of 心内一病区)
        DemoInstance(
            "DEMO-LEAVE-0002",
            "leave_simple",
            "card_n02",
            "请假：年假 2 天",
            {"days": 2, "leave_type": "年假", "reason": "年休假", "start_date": _in_a_week()},
            submit_step="Task_submit",
        ),
        # a countersign share each for card_head, equip and finance; then the dean (over 50 000)
        DemoInstance(
            "DEMO-PUR-0001",
            "purchase_countersign",
            "card_doc2",
            "采购会签：便携式心电监护仪 2 台",
            {
                "item": "便携式心电监护仪 2 台（心血管内科）",
                "total": 68000,
                "signers": ["card_head", "equip", "finance"],
            },
        ),
    ]


def _users(usernames: set[str]) -> dict[str, Any]:
    found = {u.username: u for u in get_user_model().objects.filter(username__in=usernames)}
    missing = sorted(usernames - set(found))
    if missing:
        raise ImproperlyConfigured(
            f"the flow demo needs the demo hospital's people (the 'org' loader): missing {missing}"
        )
    return found


@transaction.atomic
def demo_load(*, password: str) -> None:
    """Deploy the demo models and start the demo instances that are not there yet (all or nothing).

    ``password`` is the demo loaders' common argument; the process engine has no accounts of its own.
    """
    instances = demo_instances()
    users = _users({DEMO_DESIGNER, *(d.initiator for d in instances)})
    deployed = set(
        ProcessDefinition.objects.filter(key__in=[m.key for m in DEMO_MODELS]).values_list("key", flat=True)
    )
    for model in DEMO_MODELS:
        if model.key not in deployed:
            services.definition_deploy(
                actor=users[DEMO_DESIGNER], xml=model.xml(), key=model.key, category=DEMO_CATEGORY
            )
    started = set(
        ProcessInstance.objects.filter(business_key__in=[d.business_key for d in instances]).values_list(
            "business_key", flat=True
        )
    )
    for demo in instances:
        if demo.business_key in started:
            continue
        initiator = users[demo.initiator]
        instance = services.instance_start(
            actor=initiator,
            definition_key=demo.definition_key,
            variables=demo.variables,
            business_key=demo.business_key,
            title=demo.title,
        )
        if demo.submit_step:
            task = HumanTask.objects.get(
                instance=instance, task_def_id=demo.submit_step, status=TaskStatus.OPEN
            )
            services.task_act(actor=initiator, task=task, action="complete", comment=demo.comment)


DEMO_LOADER = DemoLoader("flow", demo_load, order=20, depends_on=("org",))
