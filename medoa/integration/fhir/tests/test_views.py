"""The submission pages: who may see them, the raw resource and the answer, reprocess."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from medoa.core.audit.models import AuditEntry
from medoa.core.clinical.models import CodeMapping
from medoa.integration.fhir import selectors
from medoa.integration.fhir.models import Submission

from .resources import encounter, patient, ward

pytestmark = pytest.mark.django_db


def _no_inline(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert ' style="' not in html


@pytest.fixture
def parked(fhir: Any, ward_mapping: None) -> Submission:
    fhir("/fhir/r4/Patient", patient())
    fhir("/fhir/r4/Location", ward("ICU9", "icu"))
    status, _body = fhir("/fhir/r4/Encounter", encounter(location="Location/icu"))
    assert status == 202
    return Submission.objects.get(resource_type="Encounter")


def test_anonymous_is_sent_to_login(parked: Submission) -> None:
    response = Client().get("/fhir/r4/_submissions/")
    assert response.status_code == 302
    assert "/accounts/login" in response["Location"]


def test_a_doctor_may_not_see_them(parked: Submission, person: Any) -> None:
    client = Client()
    client.force_login(person("doctor", username="doc").user)
    assert client.get("/fhir/r4/_submissions/").status_code == 403
    assert client.get(f"/fhir/r4/_submissions/{parked.pk}/").status_code == 403
    assert client.post(f"/fhir/r4/_submissions/{parked.pk}/reprocess/").status_code == 403
    parked.refresh_from_db()
    assert parked.attempts == 1


def test_it_sees_the_list_the_detail_and_reprocesses(parked: Submission, person: Any) -> None:
    client = Client()
    viewer = person("it", username="it_wang").user
    client.force_login(viewer)
    page = client.get("/fhir/r4/_submissions/?status=unmapped")
    assert page.status_code == 200
    html = page.content.decode()
    _no_inline(html)
    assert f'data-submission="{parked.pk}"' in html
    assert page["Cache-Control"] == "no-store"
    senders = selectors.sender_counts(user=viewer)
    assert [(s.facility, s.last_hour, s.last_day, s.refused_last_day) for s in senders] == [("HIS", 3, 3, 0)]
    assert 'data-sender="HIS"' in html
    detail = client.get(f"/fhir/r4/_submissions/{parked.pk}/")
    assert detail.status_code == 200
    html = detail.content.decode()
    _no_inline(html)
    assert "ICU9" in html
    assert 'id="fhir-reprocess"' in html
    CodeMapping.objects.create(kind="ward", facility="*", external_code="ICU9", internal_code="W1")
    response = client.post(f"/fhir/r4/_submissions/{parked.pk}/reprocess/")
    assert response.status_code == 302
    parked.refresh_from_db()
    assert parked.status == "processed"
    assert AuditEntry.objects.filter(action="integration.fhir.reprocessed").count() == 1


def test_a_bad_filter_400(person: Any) -> None:
    client = Client()
    client.force_login(person("it", username="it_wang").user)
    assert client.get("/fhir/r4/_submissions/?status=nope").status_code == 400


def test_the_list_hides_bundle_entries_unless_asked(fhir: Any, person: Any, ward_mapping: None) -> None:
    from .resources import bundle, observation

    fhir("/fhir/r4/", bundle("batch", patient(), observation()))
    top = Submission.objects.get(bundle__isnull=True)
    entry_ids = list(top.entries.values_list("pk", flat=True))
    client = Client()
    client.force_login(person("it", username="it_wang").user)
    html = client.get("/fhir/r4/_submissions/").content.decode()
    assert f'data-submission="{top.pk}"' in html
    assert not any(f'data-submission="{pk}"' in html for pk in entry_ids)
    html = client.get("/fhir/r4/_submissions/?entries=on").content.decode()
    assert all(f'data-submission="{pk}"' in html for pk in entry_ids)
