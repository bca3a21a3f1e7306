"""Report datasets and daily facts of the clinical mirror (encounters, bed days).

Discovered by the report engine (``reporting.register(site)``); ``core`` must not import the
engine, so this module only uses the ``site`` object it is handed.

Bed-day facts (per day and ward — the encounter's ward, else its department):

* ``beds.occupied_days`` — 实际占用床日数: inpatients in a bed at the midnight census of that day,
  plus those admitted and discharged on the same day (each counts one bed day);
* ``enc.admissions`` — 入院人数 (admitted that day);
* ``enc.discharges`` — 出院人数 (discharged that day);
* ``enc.discharge_bed_days`` — 出院者占用总床日数 of those discharged that day (discharge date −
  admission date in days, at least 1).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import Q
from django.utils import timezone

from medoa.core.org.models import Department

from .choices import EncounterClass, EncounterStatus
from .models import Encounter

FACT_KEYS = ("beds.occupied_days", "enc.admissions", "enc.discharges", "enc.discharge_bed_days")


def _midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_default_timezone())


def department_ids_by_code() -> dict[str, int]:
    return dict(Department.objects.values_list("code", "pk"))


def inpatient_stays() -> Any:
    return Encounter.objects.filter(
        encounter_class=EncounterClass.INPATIENT, admitted_at__isnull=False
    ).exclude(status=EncounterStatus.CANCELLED)


def bed_day_facts(day_from: dt.date, day_to: dt.date) -> list[tuple[dt.date, int | None, str, float]]:
    """One pass over the stays overlapping the range; a difference array per ward for the
    midnight census."""
    tz = timezone.get_default_timezone()
    today = timezone.localtime(timezone.now(), tz).date()
    codes = department_ids_by_code()
    qs = (
        inpatient_stays()
        .filter(admitted_at__lt=_midnight(day_to + dt.timedelta(days=1)))
        .filter(Q(discharged_at__isnull=True) | Q(discharged_at__gte=_midnight(day_from)))
        .values_list("admitted_at", "discharged_at", "ward_code", "department_code")
    )
    span = (day_to - day_from).days + 1
    census: dict[int | None, list[int]] = defaultdict(lambda: [0] * (span + 1))
    out: dict[tuple[dt.date, int | None, str], float] = defaultdict(float)
    for admitted, discharged, ward, dept in qs.iterator(chunk_size=5000):
        dept_id = codes.get(ward) or codes.get(dept)
        a = admitted.astimezone(tz).date()
        d = discharged.astimezone(tz).date() if discharged else None
        if day_from <= a <= day_to:
            out[(a, dept_id, "enc.admissions")] += 1
        if d is not None and day_from <= d <= day_to:
            out[(d, dept_id, "enc.discharges")] += 1
            out[(d, dept_id, "enc.discharge_bed_days")] += max(1, (d - a).days)
        if d is not None and d == a:
            if day_from <= a <= day_to:
                out[(a, dept_id, "beds.occupied_days")] += 1
            continue
        # in a bed at midnight of every day from admission up to the day before discharge
        last = (d - dt.timedelta(days=1)) if d is not None else min(day_to, today)
        first = max(a, day_from)
        last = min(last, day_to)
        if last < first:
            continue
        arr = census[dept_id]
        arr[(first - day_from).days] += 1
        arr[(last - day_from).days + 1] -= 1
    for dept_id, arr in census.items():
        running = 0
        for i in range(span):
            running += arr[i]
            if running:
                out[(day_from + dt.timedelta(days=i), dept_id, "beds.occupied_days")] += running
    return [(day, dept, key, value) for (day, dept, key), value in out.items()]


def average_length_of_stay(ctx: Any, helpers: Any) -> float | None:
    """平均住院日 = 出院者占用总床日数 / 出院人数."""
    return helpers.ratio(
        helpers.facts_sum(ctx, "enc.discharge_bed_days"), helpers.facts_sum(ctx, "enc.discharges")
    )


def register(site: Any) -> None:
    f = site.field
    site.dataset(
        "clinical.encounters",
        "住院就诊",
        "Inpatient stays",
        queryset=_encounters_with_department,
        department_path="reports_department_id",
        fields=(
            f("status", "dimension", "状态", "Status", path="status", choices=EncounterStatus),
            f("ward", "dimension", "病区", "Ward", path="ward_code"),
            f("department_code", "dimension", "科室代码", "Department code", path="department_code"),
            f("attending_doctor", "dimension", "主治医生", "Attending doctor", path="attending_doctor"),
            f("admitted_at", "time", "入院时间", "Admitted at", path="admitted_at"),
            f("discharged_at", "time", "出院时间", "Discharged at", path="discharged_at"),
            f(
                "stay_seconds",
                "measure",
                "住院时长(秒)",
                "Length of stay (seconds)",
                duration=("discharged_at", "admitted_at"),
            ),
            f("visit_number", "dimension", "住院号", "Visit number", path="visit_number"),
        ),
        record_fields=("visit_number", "ward", "admitted_at", "discharged_at", "status"),
    )
    site.facts("clinical.bed_days", FACT_KEYS, bed_day_facts)
    site.kpi(
        "average_length_of_stay",
        "平均住院日",
        "Average length of stay",
        average_length_of_stay,
        unit="days",
        formula="出院者占用总床日数 / 出院人数",
        order=20,
        drill_dataset="clinical.encounters",
    )


def _encounters_with_department() -> Any:
    """Stays with ``reports_department``: the org.Department whose code is the ward code (the
    department code when the ward is unknown) — the department the row-level access checks."""
    from django.db.models import OuterRef, Subquery
    from django.db.models.functions import Coalesce

    by_ward = Department.objects.filter(code=OuterRef("ward_code")).values("pk")[:1]
    by_dept = Department.objects.filter(code=OuterRef("department_code")).values("pk")[:1]
    return inpatient_stays().annotate(reports_department_id=Coalesce(Subquery(by_ward), Subquery(by_dept)))
