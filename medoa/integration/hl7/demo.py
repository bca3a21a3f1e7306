"""The demo's MLLP allow-list: any sending facility from this machine (IPv4 and IPv6 loopback),
every HL7 type. ``medoa demo`` calls ``ensure_demo_senders`` at every start (a demo loaded before
the listener existed gets it too); the demo loader ``hl7`` makes it with the demo hospital."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from .models import Sender
from .receive import forget_allow_list

DEMO_SENDERS = (
    ("Demo loopback (IPv4)", "127.0.0.1/32"),
    ("Demo loopback (IPv6)", "::1/128"),
)


@transaction.atomic
def ensure_demo_senders() -> list[Sender]:
    senders = []
    for name, address in DEMO_SENDERS:
        sender, _created = Sender.objects.get_or_create(
            name=name, defaults={"address": address, "facility": "*", "scopes": ["hl7:*"]}
        )
        senders.append(sender)
    forget_allow_list()
    return senders


def demo_load(**kwargs: Any) -> None:
    ensure_demo_senders()
