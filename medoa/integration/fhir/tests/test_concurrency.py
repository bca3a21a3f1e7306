"""Two systems (or two retries of one) posting the same encounter at the same moment: one
admission, both answered, nothing in error (PostgreSQL, real concurrent transactions)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from medoa.core.events.models import Event
from medoa.integration.fhir.models import Submission

from .resources import bed, encounter, patient, ward

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_same_encounter_twice_at_once_is_one_admission(fhir: Any, ward_mapping: None) -> None:
    for res in (ward("4E", "w4e"), bed("4E-01", "b1", "w4e"), patient()):
        assert fhir(f"/fhir/r4/{res['resourceType']}", res)[0] == 201
    answers: list[int] = []
    barrier = threading.Barrier(4)

    def post() -> None:
        try:
            barrier.wait(5)
            answers.append(fhir("/fhir/r4/Encounter", encounter())[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(answers) == [201, 201, 201, 201]
    assert list(Event.objects.values_list("type", flat=True)) == ["clinical.patient.admitted"]
    assert set(Submission.objects.filter(resource_type="Encounter").values_list("status", flat=True)) == {
        "processed"
    }
