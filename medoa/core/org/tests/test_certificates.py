"""Staff certificates: the services and who may use them, the pages, the workbench card, the
daily check's reminder points (once each, however often it runs), and the demo hospital's
certificate rule firing on the first check (publish → dispatcher → notifications)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from medoa.core.access.cache import access_cache_clear
from medoa.core.access.policy import principal_of
from medoa.core.audit.models import AuditEntry
from medoa.core.events.dispatcher import dispatch_until_idle
from medoa.core.events.models import Event
from medoa.core.notify.models import Notification
from medoa.core.org import services
from medoa.core.org.cards import certificates_card_context
from medoa.core.org.models import Staff, StaffCertificate
from medoa.core.org.services import (
    certificate_add,
    certificate_reminder_point,
    certificate_remove,
    certificate_update,
    certificates_check_expiring,
)
from medoa.core.registries import periodic_jobs, workbench_cards
from medoa.core.runtime.demo import run_demo_loaders

TODAY = dt.date(2026, 3, 1)
CERTIFICATE_EVENT = "hr.certificate.expiring"


def _days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


@pytest.fixture
def hr(person: Callable[..., Staff], tree: SimpleNamespace) -> Staff:
    return person("hr", department=tree.hr_office, username="hr_li")


@pytest.fixture
def nurse(person: Callable[..., Staff], tree: SimpleNamespace) -> Staff:
    return person("nurse", department=tree.cardio_ward, username="nurse_chen")


# --- services ---------------------------------------------------------------------------------------


def test_hr_adds_updates_and_removes_a_certificate_audited(hr: Staff, nurse: Staff) -> None:
    cert = certificate_add(
        actor=hr.user,
        staff=nurse,
        kind="nurse_practice",
        number=" 201944001234 ",
        issued_on=dt.date(2021, 5, 1),
        expires_on=dt.date(2026, 5, 1),
    )
    cert.refresh_from_db()
    assert (cert.staff_id, cert.kind, cert.name, cert.number, cert.issued_on, cert.expires_on) == (
        nurse.pk,
        "nurse_practice",
        "",
        "201944001234",
        dt.date(2021, 5, 1),
        dt.date(2026, 5, 1),
    )
    added = AuditEntry.objects.get(action="org.certificate.added")
    assert (added.actor_id, added.details) == (
        hr.user.pk,
        {"kind": "nurse_practice", "name": "", "expires_on": "2026-05-01"},
    )

    certificate_update(actor=hr.user, certificate=cert, expires_on=dt.date(2031, 5, 1), note="已延续")
    cert.refresh_from_db()
    assert (cert.expires_on, cert.note) == (dt.date(2031, 5, 1), "已延续")
    updated = AuditEntry.objects.get(action="org.certificate.updated")
    assert updated.details == {
        "fields": ["expires_on", "note"],
        "kind": "nurse_practice",
        "name": "",
        "expires_on": "2031-05-01",
    }

    certificate_remove(actor=hr.user, certificate=cert)
    assert not StaffCertificate.objects.exists()
    removed = AuditEntry.objects.get(action="org.certificate.removed")
    assert removed.details == {
        "certificate": cert.pk,
        "kind": "nurse_practice",
        "name": "",
        "expires_on": "2031-05-01",
    }


def test_certificate_fields_are_checked_each_with_its_message(hr: Staff, nurse: Staff) -> None:
    with pytest.raises(ValidationError) as caught:
        certificate_add(
            actor=hr.user,
            staff=nurse,
            kind="other",
            number="x" * 65,
            issued_on=dt.date(2025, 1, 1),
            expires_on=dt.date(2024, 1, 1),
        )
    assert sorted(caught.value.message_dict) == ["expires_on", "name", "number"]
    with pytest.raises(ValidationError) as caught:
        certificate_add(actor=hr.user, staff=nurse, kind="driving_licence")
    assert list(caught.value.message_dict) == ["kind"]
    with pytest.raises(ValidationError) as caught:
        certificate_add(
            actor=hr.user,
            staff=nurse,
            kind="nurse_practice",
            issued_on=timezone.localdate() + dt.timedelta(1),
        )
    assert list(caught.value.message_dict) == ["issued_on"]
    assert not StaffCertificate.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="org.certificate").exists()


def test_others_may_not_manage_certificates_and_nothing_changes(
    person: Callable[..., Staff], hr: Staff, nurse: Staff, tree: SimpleNamespace
) -> None:
    cert = certificate_add(actor=hr.user, staff=nurse, kind="nurse_practice", expires_on=_days(100))
    head = person("dept_head", department=tree.cardio, username="head_cardio")  # sees the record only
    for actor in (head, nurse):
        with pytest.raises(PermissionDenied):
            certificate_add(actor=actor.user, staff=nurse, kind="nurse_practice")
        with pytest.raises(PermissionDenied):
            certificate_update(actor=actor.user, certificate=cert, expires_on=_days(900))
        with pytest.raises(PermissionDenied):
            certificate_remove(actor=actor.user, certificate=cert)
    cert.refresh_from_db()
    assert cert.expires_on == _days(100)
    assert StaffCertificate.objects.count() == 1
    assert AuditEntry.objects.filter(action__startswith="org.certificate").count() == 1
    assert not Event.objects.exists()


def test_no_certificate_for_someone_who_left(hr: Staff, nurse: Staff) -> None:
    services.staff_deactivate(actor=hr.user, staff=nurse)
    with pytest.raises(ValidationError):
        certificate_add(actor=hr.user, staff=nurse, kind="nurse_practice")
    assert not StaffCertificate.objects.exists()


# --- the daily check --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_left", "point"),
    [(31, None), (30, 30), (8, 30), (7, 7), (1, 7), (0, 0), (-7, 0), (-8, None)],
)
def test_reminder_points(days_left: int, point: int | None) -> None:
    assert certificate_reminder_point(_days(days_left), TODAY) == point


def _events() -> list[tuple[str, dict[str, str]]]:
    return [(e.key or "", e.payload) for e in Event.objects.filter(type=CERTIFICATE_EVENT).order_by("pk")]


def test_daily_check_publishes_each_reminder_point_once(
    hr: Staff, nurse: Staff, person: Callable[..., Staff], tree: SimpleNamespace
) -> None:
    gone = person("nurse", department=tree.cardio_ward, username="nurse_gone")

    def add(staff: Staff, kind: str, expires_on: dt.date | None, name: str = "") -> StaffCertificate:
        cert = StaffCertificate.objects.create(staff=staff, kind=kind, name=name, expires_on=expires_on)
        return cert

    soon = add(nurse, "nurse_practice", _days(20))
    week = add(nurse, "large_equipment", _days(5))
    due = add(hr, "other", _days(0), name="BLS")
    lapsed = add(hr, "professional_title", _days(-3))
    add(hr, "physician_practice", _days(-8))  # lapsed too long ago
    later = add(nurse, "physician_qualification", _days(34))  # not yet (its window opens on day 4)
    add(nurse, "professional_title", None)  # never expires
    add(gone, "nurse_practice", _days(20))
    services.staff_deactivate(actor=hr.user, staff=gone)

    assert certificates_check_expiring(today=TODAY) == 4
    assert _events() == [
        (
            f"cert:{lapsed.pk}:2026-02-26:0",
            {"staff": "hr_li", "certificate": "专业技术资格证书", "expires_on": "2026-02-26"},
        ),
        (f"cert:{due.pk}:2026-03-01:0", {"staff": "hr_li", "certificate": "BLS", "expires_on": "2026-03-01"}),
        (
            f"cert:{week.pk}:2026-03-06:7",
            {"staff": "nurse_chen", "certificate": "大型设备上岗证", "expires_on": "2026-03-06"},
        ),
        (
            f"cert:{soon.pk}:2026-03-21:30",
            {"staff": "nurse_chen", "certificate": "护士执业证书", "expires_on": "2026-03-21"},
        ),
    ]
    # Again the same day, and the next days inside the same points: nothing new.
    for day in (0, 0, 1, 2):
        assert certificates_check_expiring(today=_days(day)) == 0
    assert Event.objects.count() == 4
    # Day 5: ``week`` expires (its last point), ``later`` enters the 30 days (its first).
    assert certificates_check_expiring(today=_days(5)) == 2
    assert [k for k, _p in _events()[4:]] == [
        f"cert:{week.pk}:2026-03-06:0",
        f"cert:{later.pk}:2026-04-04:30",
    ]
    # Day 13: ``soon`` has 7 days left (its second point); ``week`` lapsed 8 days ago: left alone.
    assert certificates_check_expiring(today=_days(13)) == 1
    assert _events()[-1][0] == f"cert:{soon.pk}:2026-03-21:7"
    assert certificates_check_expiring(today=_days(13)) == 0
    # A renewal (a new expiry date) starts the reminders again.
    certificate_update(actor=hr.user, certificate=soon, expires_on=_days(40))
    assert certificates_check_expiring(today=_days(13)) == 1
    assert _events()[-1][0] == f"cert:{soon.pk}:2026-04-10:30"


def test_daily_check_key_already_used_by_another_worker(hr: Staff, nurse: Staff) -> None:
    """Another worker published the point between this one's two queries: the bus returns its
    event, and there is still one event per point."""
    cert = StaffCertificate.objects.create(staff=nurse, kind="nurse_practice", expires_on=_days(20))
    services.publish(
        CERTIFICATE_EVENT,
        services.certificate_payload(cert),
        key=f"cert:{cert.pk}:2026-03-21:30",
    )
    assert certificates_check_expiring(today=TODAY) == 0
    assert Event.objects.count() == 1


def test_the_check_is_a_periodic_job_that_runs_at_worker_start() -> None:
    job = periodic_jobs.get("org.certificates_check")
    assert (job.run, job.every_seconds) == (certificates_check_expiring, 3600.0)


# --- pages and the card -----------------------------------------------------------------------------


def test_staff_page_shows_certificates_and_hr_manages_them(
    client: Client, hr: Staff, nurse: Staff, person: Callable[..., Staff], tree: SimpleNamespace
) -> None:
    cert = certificate_add(actor=hr.user, staff=nurse, kind="nurse_practice", number="201944001234")
    client.force_login(hr.user)
    page = client.get(reverse("org:staff_detail", args=[nurse.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('id="certificates"') == 1  # once, in the page's content
    assert html.split("<title>")[1].split("</title>")[0] == f"{nurse.name} · MedOA"
    assert "201944001234" in html
    assert "护士执业证书" in html and "添加证书" in html and "长期有效" in html
    assert reverse("org:certificate_edit", args=[cert.pk]) in html

    bad = client.post(
        reverse("org:certificate_add", args=[nurse.pk]),
        {"kind": "nurse_practice", "issued_on": "2025-01-01", "expires_on": "2024-01-01"},
    )
    assert bad.status_code == 400
    assert "有效期须晚于发证日期。" in bad.content.decode()
    assert StaffCertificate.objects.count() == 1
    done = client.post(
        reverse("org:certificate_add", args=[nurse.pk]),
        {"kind": "large_equipment", "number": "MRI-0001", "expires_on": "2030-01-01"},
    )
    assert done.status_code == 302
    added = StaffCertificate.objects.get(kind="large_equipment")
    assert (added.number, added.expires_on) == ("MRI-0001", dt.date(2030, 1, 1))
    edit = client.post(
        reverse("org:certificate_edit", args=[added.pk]),
        {"kind": "large_equipment", "number": "MRI-0002", "expires_on": "2031-01-01"},
    )
    assert edit.status_code == 302
    added.refresh_from_db()
    assert (added.number, added.expires_on) == ("MRI-0002", dt.date(2031, 1, 1))
    assert client.post(reverse("org:certificate_remove", args=[added.pk])).status_code == 302
    assert list(StaffCertificate.objects.values_list("pk", flat=True)) == [cert.pk]

    # The person sees theirs without the buttons; a colleague gets nothing (404, no id leak).
    client.force_login(nurse.user)
    own = client.get(reverse("org:staff_detail", args=[nurse.pk]))
    assert own.status_code == 200
    assert b"201944001234" in own.content
    assert reverse("org:certificate_edit", args=[cert.pk]).encode() not in own.content
    assert client.get(reverse("org:certificate_edit", args=[cert.pk])).status_code == 404
    assert client.post(reverse("org:certificate_remove", args=[cert.pk])).status_code == 404
    assert client.get(reverse("org:certificate_add", args=[nurse.pk])).status_code == 403
    colleague = person("nurse", department=tree.surgery_ward, username="nurse_wang")
    client.force_login(colleague.user)
    assert client.get(reverse("org:staff_detail", args=[nurse.pk])).status_code == 404
    assert client.get(reverse("org:certificate_add", args=[nurse.pk])).status_code == 404
    assert StaffCertificate.objects.count() == 1


def test_my_certificates_card_one_query_then_cached(
    hr: Staff, nurse: Staff, django_assert_num_queries: Any, settings: Any
) -> None:
    """Cold: one query on the staff index; warm (the access cache, as in production): none. A
    change drops the holder's cached rows."""
    certificate_add(actor=hr.user, staff=nurse, kind="nurse_practice", expires_on=_days(400))
    certificate_add(actor=hr.user, staff=nurse, kind="physician_qualification")
    assert workbench_cards.get("org.certificates").context is certificates_card_context
    request: Any = SimpleNamespace(user=nurse.user)
    principal_of(nurse.user)  # loaded once per request before the cards (the shell's own query)
    settings.MEDOA_ACCESS_CACHE_SECONDS = 5
    access_cache_clear()
    try:
        with django_assert_num_queries(1):
            context = certificates_card_context(request)
        assert [c.kind for c in context["certificates"]] == ["nurse_practice", "physician_qualification"]
        with django_assert_num_queries(0):
            certificates_card_context(request)
        certificate_add(actor=hr.user, staff=nurse, kind="large_equipment", expires_on=_days(1))
        assert len(certificates_card_context(request)["certificates"]) == 3
    finally:
        access_cache_clear()


# --- the demo, end to end ---------------------------------------------------------------------------


@pytest.mark.slow  # loads the whole demo hospital (14–21 s): in CI and make test-all
@pytest.mark.django_db(transaction=True)
def test_demo_certificate_rule_fires_on_the_first_daily_check() -> None:
    run_demo_loaders(password="Demo-Password-2026")
    today = timezone.localdate()
    expires = (today + dt.timedelta(days=20)).isoformat()
    assert certificates_check_expiring() == 1
    event = Event.objects.get(type=CERTIFICATE_EVENT)
    assert event.payload == {"staff": "card_n01", "certificate": "护士执业证书", "expires_on": expires}
    dispatch_until_idle()
    hr_users = set(
        Staff.objects.filter(role_assignments__role__code="hr").values_list("user__username", flat=True)
    )
    got = {
        n.recipient.username: n.title
        for n in Notification.objects.filter(title__contains="护士执业证书").select_related("recipient")
    }
    assert got == dict.fromkeys({"card_n01", *hr_users}, "证书即将到期：护士执业证书")
    assert hr_users  # 人事处 is told, not only the nurse
    assert certificates_check_expiring() == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_daily_check_on_several_workers_at_once_publishes_each_point_once(
    person: Callable[..., Staff], tree: SimpleNamespace
) -> None:
    nurses = [person("nurse", department=tree.cardio_ward, username=f"nurse_{i}") for i in range(6)]
    certs = [
        StaffCertificate.objects.create(staff=n, kind="nurse_practice", expires_on=_days(3 + 4 * i))
        for i, n in enumerate(nurses)
    ]
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            certificates_check_expiring(today=TODAY)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(k for k, _p in _events()) == sorted(
        f"cert:{c.pk}:{c.expires_on}:{7 if i < 2 else 30}" for i, c in enumerate(certs)
    )


def test_the_workbench_shows_my_certificates(client: Client, hr: Staff, nurse: Staff) -> None:
    certificate_add(
        actor=hr.user,
        staff=nurse,
        kind="nurse_practice",
        expires_on=timezone.localdate() + dt.timedelta(days=10),
    )
    client.force_login(nurse.user)
    html = client.get("/").content.decode()
    assert "我的证书" in html
    assert "护士执业证书" in html
    assert f"{(timezone.localdate() + dt.timedelta(days=10)).isoformat()} 到期" in html
    assert f"{reverse('org:staff_detail', args=[nurse.pk])}#certificates" in html
