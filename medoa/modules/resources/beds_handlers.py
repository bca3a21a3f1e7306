"""The bed board's reactions to the clinical events (subscribers, run by the worker).

``clinical.patient.admitted|transferred`` occupy (and move), ``admission_cancelled`` frees,
``discharged`` makes the bed 待清洁 and starts its cleaning, ``discharge_cancelled`` puts the patient
back and cancels the cleaning, ``updated`` refreshes the occupant. Idempotent by event id
(``HandledEvent``), in one transaction with the delivery.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from medoa.core.events.models import Event
from medoa.core.events.registry import Subscriber

from .services import apply_encounter_event

KINDS = ("admitted", "transferred", "discharged", "updated", "admission_cancelled", "discharge_cancelled")


def handle_encounter_event(event: Event) -> None:
    kind = event.type.rsplit(".", 1)[-1]
    payload = event.payload if isinstance(event.payload, dict) else {}
    apply_encounter_event(event_id=event.pk, kind=kind, payload=payload)


BED_SUBSCRIBER = Subscriber(
    "resources.beds_follow_encounters",
    tuple(f"clinical.patient.{kind}" for kind in KINDS),
    handle_encounter_event,
    label=_("Bed board: occupy, free and clean beds as patients move"),
)
