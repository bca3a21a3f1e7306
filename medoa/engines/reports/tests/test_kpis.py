"""KPI formulas against the hand-computed fixture (tests/conftest.py), access, and the API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from medoa.engines.reports import kpis
from medoa.engines.reports.access import subtree_ids
from medoa.engines.reports.helpers import percentile_of

from .conftest import DAY_FROM, DAY_TO

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/kpis"
PERIOD = "from=2026-03-01&to=2026-03-10"


def test_hospital_wide_figures(hospital: Any) -> None:
    got = kpis.compute(kpis.context(DAY_FROM, DAY_TO, None))
    # occupied 17 (W5) + 5 (W7) = 22 bed days; open 10×10 + 5×10 = 150
    assert got["bed_occupancy_rate"] == pytest.approx(22 / 150, abs=1e-6)
    # discharged: E1 (3 days), E3 (1), E5 (5) → 9 / 3
    assert got["average_length_of_stay"] == pytest.approx(3.0)
    # 3 discharges / (150 / 10 average open beds)
    assert got["bed_turnover"] == pytest.approx(0.2)
    assert got["bed_turnaround_minutes_median"] == pytest.approx(40.0)  # 20, 30, 50, 90
    assert got["critical_value_timely_rate"] == pytest.approx(2 / 4)  # unacknowledged left out
    assert got["approval_cycle_hours_median"] == pytest.approx(6.0)  # 2, 6, 10
    assert got["or_utilisation"] == pytest.approx(180 / 6000)  # 3 h of 10 days × 10 h


def test_department_figures(hospital: Any) -> None:
    got = kpis.compute(kpis.context(DAY_FROM, DAY_TO, subtree_ids(hospital.card)))
    assert got["bed_occupancy_rate"] == pytest.approx(0.17)
    assert got["average_length_of_stay"] == pytest.approx(2.0)
    assert got["bed_turnover"] == pytest.approx(0.2)
    assert got["bed_turnaround_minutes_median"] == pytest.approx(50.0)
    assert got["critical_value_timely_rate"] == pytest.approx(2 / 3)
    assert got["approval_cycle_hours_median"] == pytest.approx(4.0)
    assert got["or_utilisation"] is None  # no operating room in 心内科


def test_percentile_definition_matches_percentile_cont() -> None:
    assert percentile_of([1, 2, 3, 4], 0.5) == 2.5
    assert percentile_of([10, 20, 30, 40, 50], 0.9) == pytest.approx(46.0)
    assert percentile_of([], 0.5) is None


def test_api_dean_hospital_wide_and_drill_down(hospital: Any, api_as: Any) -> None:
    client = api_as(hospital.dean)
    body = client.get(f"{URL}?{PERIOD}").json()
    assert set(body) == set(kpis.STANDARD)
    assert body["bed_occupancy_rate"] == pytest.approx(22 / 150, abs=1e-6)
    body = client.get(f"{URL}?{PERIOD}&department=SURG").json()
    assert body["bed_occupancy_rate"] == pytest.approx(0.1)
    assert body["or_utilisation"] == pytest.approx(0.03)
    rows = client.get(f"{URL}/by-department?{PERIOD}&kpi=bed_occupancy_rate").json()["rows"]
    assert {r["department"]: r["value"] for r in rows} == {
        "CARD": pytest.approx(0.17),
        "SURG": pytest.approx(0.1),
    }


def test_api_department_head_sees_only_own_department(hospital: Any, api_as: Any) -> None:
    client = api_as(hospital.head_card)
    own = client.get(f"{URL}?{PERIOD}").json()
    assert own["bed_occupancy_rate"] == pytest.approx(0.17)  # without department: their tree
    assert client.get(f"{URL}?{PERIOD}&department=W5").status_code == 200
    assert client.get(f"{URL}?{PERIOD}&department=SURG").status_code == 403
    assert client.get(f"{URL}?{PERIOD}&department=W7").status_code == 403
    assert client.get(f"{URL}?{PERIOD}&department=HOSP").status_code == 403
    assert (
        client.get("/api/v1/reports/records?dataset=clinical.encounters&department=SURG").status_code == 403
    )
    # a filter naming another department's id finds nothing: rows are narrowed before filters
    spec = {
        "dataset": "clinical.encounters",
        "measures": [{"op": "count"}],
        "dimensions": [{"field": "department"}],
        "filters": [{"field": "department", "op": "in", "value": [hospital.w7.pk, hospital.surg.pk]}],
    }
    res = client.post("/api/v1/reports/query", json.dumps(spec), content_type="application/json").json()
    assert res["rows"] == []
    spec["filters"] = []
    res = client.post("/api/v1/reports/query", json.dumps(spec), content_type="application/json").json()
    assert res["rows"] == [["心内一病区", 4]]
    recs = client.get("/api/v1/reports/records?dataset=clinical.encounters").json()["rows"]
    assert len(recs) == 4


def test_api_doctor_without_reports_access(hospital: Any, api_as: Any) -> None:
    assert api_as(hospital.doctor).get(f"{URL}?{PERIOD}").status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("to=2026-03-10", "from"),
        ("from=2026-3-1&to=2026-03-10", "from"),
        ("from=2026-03-01&to=2026-02-28", "to"),
        ("from=2026-02-30&to=2026-03-10", "from"),
        ("from=2020-01-01&to=2026-03-10", "to"),
    ],
)
def test_api_bad_periods(hospital: Any, api_as: Any, query: str, field: str) -> None:
    res = api_as(hospital.dean).get(f"{URL}?{query}")
    assert res.status_code == 422
    assert res.json()["errors"][0]["field"] == field


def test_api_unknown_department(hospital: Any, api_as: Any) -> None:
    res = api_as(hospital.dean).get(f"{URL}?{PERIOD}&department=NOPE")
    assert res.status_code == 422
    assert res.json()["errors"][0]["field"] == "department"


def test_query_builder_measures(hospital: Any, api_as: Any) -> None:
    client = api_as(hospital.dean)
    spec = {
        "dataset": "resources.bed_turnaround",
        "measures": [
            {"op": "count"},
            {"op": "p50", "field": "turnaround_seconds"},
            {"op": "avg", "field": "turnaround_seconds"},
        ],
        "dimensions": [{"field": "department"}],
        "sort": [{"by": "m0", "desc": True}],
    }
    res = client.post("/api/v1/reports/query", json.dumps(spec), content_type="application/json")
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["rows"] == [
        ["心内一病区", 3, 3000.0, pytest.approx(3400.0)],
        ["外科一病区", 1, 1200.0, 1200.0],
    ]
    assert body["totals"][1:] == [4, 2400.0, 2850.0]
    spec2 = {
        "dataset": "approvals.requests",
        "measures": [{"op": "p50", "field": "cycle_seconds"}],
        "dimensions": [{"field": "finished_at", "grain": "month"}],
    }
    body = client.post("/api/v1/reports/query", json.dumps(spec2), content_type="application/json").json()
    assert body["rows"] == [["2026-03-01", 21600.0]]
    spec3 = {"dataset": "quality.critical_values", "measures": [{"op": "ratio", "field": "timely"}]}
    body = client.post("/api/v1/reports/query", json.dumps(spec3), content_type="application/json").json()
    assert body["rows"][0][0] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"dataset": "nope"}, "dataset"),
        ({"dataset": "clinical.encounters", "measures": [{"op": "drop table"}]}, "measures[0].op"),
        (
            {"dataset": "clinical.encounters", "dimensions": [{"field": "patient__name"}]},
            "dimensions[0].field",
        ),
        (
            {"dataset": "clinical.encounters", "filters": [{"field": "status; --", "value": 1}]},
            "filters[0].field",
        ),
        ({"dataset": "clinical.encounters", "sort": [{"by": "x"}]}, "sort[0].by"),
    ],
)
def test_query_refuses_unregistered_names(
    hospital: Any, api_as: Any, spec: dict[str, Any], field: str
) -> None:
    res = api_as(hospital.dean).post(
        "/api/v1/reports/query", json.dumps(spec), content_type="application/json"
    )
    assert res.status_code == 422
    assert res.json()["errors"][0]["field"] == field


def test_exports(hospital: Any, client: Any) -> None:
    client.force_login(hospital.dean.user)
    spec = json.dumps({"dataset": "clinical.encounters", "dimensions": [{"field": "department"}]})
    res = client.get("/reports/export/xlsx/", {"spec": spec})
    assert res.status_code == 200 and res.content[:2] == b"PK"
    res = client.get("/reports/export/pdf/", {"spec": spec, "chart": "bar"})
    assert res.status_code == 200 and res.content[:4] == b"%PDF"


def test_records_follow_the_period(hospital: Any, api_as: Any) -> None:
    client = api_as(hospital.dean)
    rows = client.get(f"/api/v1/reports/records?dataset=clinical.encounters&{PERIOD}").json()["rows"]
    assert sorted(r[0] for r in rows) == ["V1", "V3", "V4", "V5"]  # V2 admitted on 02-25


def test_saved_reports_share_and_schedule(hospital: Any, client: Any) -> None:
    from medoa.engines.reports.models import SavedReport
    from medoa.engines.reports.services import scheduled_reports_job

    client.force_login(hospital.head_card.user)
    spec = {"dataset": "clinical.encounters", "dimensions": [{"field": "department"}]}
    bad = client.post(
        "/reports/data/saved/",
        json.dumps({"name": "x", "spec": {"dataset": "nope"}}),
        content_type="application/json",
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "spec.dataset"
    res = client.post(
        "/reports/data/saved/",
        json.dumps(
            {
                "name": "科室住院",
                "spec": spec,
                "chart": "pie",
                "shared_roles": ["head_nurse"],
                "schedule": "weekly",
                "schedule_format": "xlsx",
            }
        ),
        content_type="application/json",
    )
    assert res.status_code == 201, res.content
    report = SavedReport.objects.get()
    # the head nurse sees it (shared with her role), within HER scope; the other head does not
    client.force_login(hospital.nurse_w5.user)
    assert [r["name"] for r in client.get("/reports/data/saved/").json()["reports"]] == ["科室住院"]
    assert client.get(f"/reports/saved/{report.pk}/export.xlsx").status_code == 200
    client.force_login(hospital.head_surg.user)
    assert client.get("/reports/data/saved/").json()["reports"] == []
    assert client.get(f"/reports/saved/{report.pk}/export.pdf").status_code == 404
    # the weekly e-mail: due → one notification to the owner with the export link
    from django.utils import timezone

    SavedReport.objects.filter(pk=report.pk).update(next_run_at=timezone.now())
    assert scheduled_reports_job() == 1
    assert scheduled_reports_job() == 0
    from medoa.core.notify.models import Notification

    note = Notification.objects.get(recipient=hospital.head_card.user)
    assert note.link == f"/reports/saved/{report.pk}/export.xlsx"


def test_ward_panel_and_pages(hospital: Any, client: Any) -> None:
    client.force_login(hospital.nurse_w5.user)
    body = client.get("/reports/data/ward/").json()
    assert {b["status"]: b["count"] for b in body["beds"]} == {"available": 10}
    assert body["open_critical_values"] == 0
    assert client.get("/reports/").status_code == 200
    assert client.get("/reports/builder/").status_code == 200
    # another department through the page's own endpoints: refused
    assert client.get(f"/reports/data/kpis/?{PERIOD}&department=W7").status_code == 403
    client.force_login(hospital.doctor.user)
    assert client.get("/reports/").status_code == 403


def test_workbench_card(hospital: Any, client: Any) -> None:
    client.force_login(hospital.dean.user)
    page = client.get("/").content.decode()
    assert 'id="reports-card"' in page and "床位使用率" in page


def test_office_dashboard_heading(hospital: Any, client: Any, role_assignment_factory: Any) -> None:
    from medoa.core.org.models import Role

    role_assignment_factory(
        staff=hospital.doctor, role=Role.objects.get(code="quality_office"), department=hospital.root
    )
    client.force_login(hospital.doctor.user)
    assert "质控办看板" in client.get("/reports/").content.decode()


def test_records_show_a_status_by_its_label_in_the_readers_language(hospital: Any, api_as: Any) -> None:
    client = api_as(hospital.dean)
    url = f"/api/v1/reports/records?dataset=clinical.encounters&{PERIOD}"
    zh = client.get(url).json()
    client.cookies["medoa_language"] = "en"
    en = client.get(url).json()
    status = zh["fields"].index("status")
    assert {r[status] for r in zh["rows"]} == {"已出院"}
    assert {r[status] for r in en["rows"]} == {"discharged"}


def test_drill_down_passes_through_a_level_of_one_department(hospital: Any, api_as: Any) -> None:
    # the cardiology head's tree is one department: the chart opens on its wards, not on one bar
    client = api_as(hospital.head_card)
    rows = client.get(f"{URL}/by-department?{PERIOD}&kpi=bed_occupancy_rate").json()["rows"]
    assert [r["department"] for r in rows] == ["W5"]
