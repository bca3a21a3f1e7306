"""Concurrent bookings on PostgreSQL: requests racing for the same room, the same surgeon or the
same device — one wins, the others get 409 naming the winner (row locks, one connection per
thread)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from medoa.modules.resources import operating
from medoa.modules.resources.equipment import ResourceConflict, equipment_book
from medoa.modules.resources.models_or import EquipmentBooking, ORBooking

from .test_or_support import *  # noqa: F403
from .test_or_support import at

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]
N = 6


def race(fns: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(fns))
    out: list[Any] = [None] * len(fns)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            try:
                out[i] = fns[i]()
            except Exception as exc:  # a deadlock or a double booking would show here
                out[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _request(
    orp: Any, room: Any, surgeon: Any, anaes: Any, equipment: tuple[Any, ...] = (), hour: int = 9
) -> Callable[[], Any]:
    return lambda: operating.booking_request(
        actor=surgeon.user,
        room=room,
        patient_mrn="M",
        procedure="手术",
        surgeon=surgeon,
        anaesthetist=anaes,
        planned_start=at(hour),
        duration_minutes=90,
        equipment=equipment,
    )


def _one_winner(results: list[Any]) -> ORBooking | Any:
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, Exception)]
    assert len(wins) == 1, results
    assert all(isinstance(e, ResourceConflict) for e in losses), losses
    assert all(f"#{wins[0].pk}" in e.message for e in losses)
    return wins[0]


def test_same_room_same_time(orp, ors, person):
    surgeons = [orp.surgeon, orp.surgeon2] + [
        person("doctor", department=orp.surgeon.department, username=f"s{i}") for i in range(N - 2)
    ]
    results = race([_request(orp, ors.r1, s, None) for s in surgeons])
    _one_winner(results)
    assert ORBooking.objects.filter(room=ors.r1).count() == 1


def test_same_surgeon_in_two_rooms_and_same_device(orp, ors):
    results = race(
        [_request(orp, ors.r1, orp.surgeon, orp.anaes), _request(orp, ors.r2, orp.surgeon, orp.anaes2)]
    )
    _one_winner(results)
    assert ORBooking.objects.filter(surgeon=orp.surgeon).count() == 1
    results = race(
        [
            _request(orp, ors.r1, orp.surgeon2, None, ("CARM-01",), hour=14),
            _request(orp, ors.r2, orp.anaes_head, None, ("CARM-01",), hour=14),
        ]
    )
    winner = _one_winner(results)
    assert list(EquipmentBooking.objects.filter(equipment=ors.carm).values_list("or_booking", flat=True)) == [
        winner.pk
    ]


def test_equipment_race(orp, ors):
    results = race(
        [
            (lambda u=u: equipment_book(actor=u.user, equipment=ors.ct, start=at(9), end=at(10)))
            for u in (orp.surgeon, orp.surgeon2, orp.anaes, orp.anaes2)
        ]
    )
    _one_winner(results)
    assert EquipmentBooking.objects.filter(equipment=ors.ct).count() == 1
