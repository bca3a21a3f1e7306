"""The approval centre in the demo hospital: the shipped models deployed (as the demo's
administrator), the 2026 holiday calendar, and every employee's leave balances for this year and
2026 (from the policy: annual leave by seniority, compensatory 0 …). Idempotent."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from medoa.core.registries import DemoLoader

from . import services
from .workdays import CHINA_2026

DEMO_DESIGNER = "admin"


@transaction.atomic
def demo_load(*, password: str = "") -> None:
    admin = get_user_model().objects.filter(username=DEMO_DESIGNER).first()
    if admin is None:
        raise ImproperlyConfigured(
            "the approvals demo needs the demo hospital's administrator (the 'org' loader)"
        )
    services.models_install(actor=admin)
    services.holidays_seed(CHINA_2026)
    for year in sorted({timezone.localdate().year, 2026}):
        services.balances_seed(year=year)


DEMO_LOADER = DemoLoader("approvals", demo_load, order=40, depends_on=("org", "forms", "flow"))
