"""The roster pages through the test client: the grid (who sees it), the live cell check as JSON,
my shifts, the iCal feed by token, swap pages."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client
from django.urls import reverse

from medoa.core.org.tests.factories import TEST_PASSWORD, DepartmentFactory, staff_with_roles
from medoa.modules.roster import services
from medoa.modules.roster.ical import calendar_for
from medoa.modules.roster.models import Demand, RosterCell, StaffProfile, Unavailability, WardRule
from medoa.modules.roster.selectors import my_shifts

from .conftest import MONTH, Ward


def client_for(staff: Any) -> Client:
    c = Client()
    assert c.login(username=staff.user.username, password=TEST_PASSWORD)
    return c


def published(w: Ward) -> Any:
    roster = services.roster_open(actor=w.head.user, ward=w.ward, month=MONTH)
    w.write(roster, {0: "A.PN..A", 1: "PA..AN."})
    return services.roster_publish(actor=w.head.user, roster=roster, allow_violations=True)


def test_grid_is_for_the_head_nurse_and_not_for_a_nurse(ward_factory: Any) -> None:
    w = ward_factory(["N3", "N1"])
    url = reverse("roster:roster_grid", args=[w.ward.pk, "2026-12"])
    assert Client().get(url).status_code == 302
    assert client_for(w.nurses[0]).get(url).status_code == 403
    response = client_for(w.head).get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="roster-grid"' in body
    assert "grid.js" in body
    assert "<script>" not in body  # no inline script (CSP)


def test_a_cell_edit_answers_with_every_mark(ward_factory: Any) -> None:
    w = ward_factory(["N3", "N1"])
    roster = services.roster_open(actor=w.head.user, ward=w.ward, month=MONTH)
    c = client_for(w.head)
    url = reverse("roster:cell_update", args=[roster.pk])
    for day in ("2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"):
        response = c.post(
            url,
            json.dumps({"staff": w.nurses[0].pk, "date": day, "code": "N"}),
            content_type="application/json",
        )
        assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    key = f"{w.nurses[0].pk}|2026-12-04"
    assert data["cells"][key]
    assert data["hard_count"] >= 1

    bad = c.post(
        url,
        json.dumps({"staff": w.nurses[0].pk, "date": "2026-12-05", "code": "X"}),
        content_type="application/json",
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "code"
    assert not RosterCell.objects.filter(date="2026-12-05").exists()

    denied = client_for(w.nurses[1]).post(
        url,
        json.dumps({"staff": w.nurses[0].pk, "date": "2026-12-05", "code": "A"}),
        content_type="application/json",
    )
    assert denied.status_code == 403


def test_my_shifts_and_the_ical_feed(ward_factory: Any) -> None:
    w = ward_factory(["N3", "N1"])
    published(w)
    c = client_for(w.nurses[0])
    page = c.get(reverse("roster:my_shifts") + "?month=2026-12").content.decode()
    assert "白班 A" in page and "大夜 N" in page
    token = StaffProfile.objects.get(staff=w.nurses[0]).ical_token
    assert token in page
    feed = Client().get(reverse("roster:ical", args=[token]))
    assert feed.status_code == 200
    assert feed["Content-Type"].startswith("text/calendar")
    assert feed["Cache-Control"] == "no-store"
    assert Client().get(reverse("roster:ical", args=["not-a-token"])).status_code == 404


def test_ical_has_one_event_per_published_shift(ward_factory: Any) -> None:
    w = ward_factory(["N3", "N1"])
    published(w)
    cells = my_shifts(staff=w.nurses[0], start=MONTH, days=31)
    text = calendar_for(w.nurses[0], cells)
    assert text.count("BEGIN:VEVENT") == 4
    # 大夜 N on 12-04 00:00 Asia/Shanghai is 12-03 16:00 UTC
    assert "DTSTART:20261203T160000Z" in text


def test_swap_pages(ward_factory: Any) -> None:
    w = ward_factory(["N3", "N3"])
    published(w)
    c = client_for(w.nurses[0])
    response = c.post(
        reverse("roster:swap_new"), {"my_date": "2026-12-07", "partner": w.nurses[1].pk, "partner_date": ""}
    )
    assert response.status_code == 302
    detail = client_for(w.head).get(response["Location"]).content.decode()
    assert 'value="approve"' in detail
    grid = client_for(w.head).get(reverse("roster:roster_grid", args=[w.ward.pk, "2026-12"])).content.decode()
    assert 'id="pending-swaps"' in grid
    assert client_for(w.nurses[1]).get(reverse("roster:swap_list")).status_code == 200


def test_ward_settings_page_saves_rules_demand_contracts_and_training(ward_factory: Any) -> None:
    w = ward_factory(["N3", "N1"])
    url = reverse("roster:ward_settings", args=[w.ward.pk])
    assert client_for(w.nurses[0]).get(url).status_code == 403
    c = client_for(w.head)
    page = c.get(url)
    assert page.status_code == 200
    # rules: max consecutive nights becomes soft with weight 30 and value 2; the rest as shown
    form: dict[str, Any] = {"section": "rules"}
    for r in page.context["rules"]:
        form[f"rule-{r.code}-weight"] = r.weight
        form[f"rule-{r.code}-value"] = r.value
        if r.enabled:
            form[f"rule-{r.code}-enabled"] = "1"
        if r.hard:
            form[f"rule-{r.code}-hard"] = "1"
    del form["rule-max_consecutive_nights-hard"]
    form["rule-max_consecutive_nights-weight"] = 30
    form["rule-max_consecutive_nights-value"] = 2
    assert c.post(url, form).status_code == 302
    assert list(WardRule.objects.values_list("code", "hard", "weight", "value")) == [
        ("max_consecutive_nights", False, 30, 2)
    ]
    # demand: N needs 2 (3 preferred) every day, at least one N3+
    demand: dict[str, Any] = {"section": "demand"}
    for code in ("A", "P", "N"):
        for wd in range(7):
            demand[f"demand-{code}-{wd}-min"] = 2 if code == "N" else 1
            demand[f"demand-{code}-{wd}-pref"] = 3 if code == "N" else 1
    demand["demand-N-skill"] = "N3"
    demand["demand-N-skillmin"] = 1
    assert c.post(url, demand).status_code == 302
    assert Demand.objects.filter(shift_type__code="N", minimum=2, preferred=3, skill_level="N3").count() == 7
    # a refused value changes nothing
    bad = dict(demand, **{"demand-A-0-min": 5})
    c.post(url, bad)
    assert Demand.objects.filter(shift_type__code="A", weekday=0).get().minimum == 1
    # contracts and flags
    profiles: dict[str, Any] = {"section": "profiles"}
    for n in w.nurses:
        profiles[f"p-{n.pk}-hours"] = 44
        profiles[f"p-{n.pk}-nights"] = 6
    profiles[f"p-{w.nurses[1].pk}-nursing"] = "2027-03-01"
    assert c.post(url, profiles).status_code == 302
    p = StaffProfile.objects.get(staff=w.nurses[1])
    assert (p.weekly_hours, p.max_nights_per_month, str(p.nursing_until)) == (44, 6, "2027-03-01")
    # training days
    training = {"section": "training", "staff": w.nurses[0].pk, "dates": "2026-12-03, 2026-12-04"}
    assert c.post(url, training).status_code == 302
    assert Unavailability.objects.filter(staff=w.nurses[0], kind="training").count() == 2


def test_the_workbench_card_shows_my_next_shifts(ward_factory: Any) -> None:
    w = ward_factory(["N3", "N1"])
    published(w)
    page = client_for(w.nurses[0]).get(reverse("web:workbench")).content.decode()
    assert "我的近期班次" in page or "My next shifts" in page


def test_a_nurse_who_looks_before_the_head_nurse_plans_is_still_rostered(db: Any) -> None:
    root = DepartmentFactory(code="H1", kind="hospital")
    ward = DepartmentFactory(code="W1", kind="ward", parent=root)
    nurse = staff_with_roles("nurse", department=ward, root=root, title="nurse", nursing_level="N2")
    assert client_for(nurse).get(reverse("roster:my_shifts")).status_code == 200
    profile = StaffProfile.objects.get(staff=nurse)
    assert (profile.ward_id, profile.rostered) == (ward.pk, True)
