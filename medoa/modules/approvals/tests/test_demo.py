"""The approval centre in the demo hospital: every shipped model installed, the 2026 calendar
seeded, balances by seniority; the demo's nurses and doctors route as the tables say."""

from __future__ import annotations

from typing import Any

import pytest

from medoa.core.org.models import Staff
from medoa.core.registries import demo_loaders
from medoa.core.runtime.demo import run_demo_loaders
from medoa.engines.flow.models import ProcessDefinition
from medoa.modules.approvals import services
from medoa.modules.approvals.catalog import request_types
from medoa.modules.approvals.models import Holiday, LeaveBalance

from .conftest import approve_all

PASSWORD = "Demo@Pass-2026"


@pytest.fixture
def loaded(db: Any) -> None:
    keys = ("org", "forms", "flow", "approvals")
    run_demo_loaders(password=PASSWORD, loaders=[demo_loaders.get(k) for k in keys])


@pytest.mark.slow
def test_demo_installs_everything_and_is_idempotent(loaded: None) -> None:
    installed = set(ProcessDefinition.objects.values_list("key", flat=True))

    assert {t.process_key for t in request_types} <= installed
    assert Holiday.objects.filter(date__year=2026).count() == 39
    staff = Staff.objects.filter(status="active").count()
    assert LeaveBalance.objects.filter(year=2026).count() == staff * 7
    demo_loaders.get("approvals").load(password=PASSWORD)  # a second run adds nothing
    assert LeaveBalance.objects.filter(year=2026).count() == staff * 7


@pytest.mark.slow
def test_demo_nurse_and_doctor_leave(loaded: None) -> None:
    data = {"leave_type": "personal", "start_date": "2026-12-07", "end_date": "2026-12-11", "reason": "探亲"}

    def chain(username: str) -> list[str]:
        staff = Staff.objects.select_related("user").get(user__username=username)
        return approve_all(services.request_submit(actor=staff.user, type_key="leave", data=data))

    assert chain("card_n01") == ["card_hn", "nursing", "vp_medical"]
    assert chain("card_hn") == ["nursing", "vp_medical"]  # the head nurse's own step passes on
    assert chain("card_doc1") == ["card_head", "vp_medical"]
    assert chain("card_head") == ["vp_medical"]


@pytest.mark.django_db
def test_install_command(installed: Any) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("approvals_install", "--user", "admin", "--type", "seal", "--holidays-2026", stdout=out)

    assert "installed: seal" in out.getvalue()
    assert ProcessDefinition.objects.filter(key="approvals_seal").exists()
