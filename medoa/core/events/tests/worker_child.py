"""A dispatcher in a process of its own, for the at-least-once test (which SIGKILLs it).

    python -m medoa.core.events.tests.worker_child '<database settings as JSON>' <worker id> <lease s>

It registers the test event types and a subscriber ``testres.slow`` whose handler writes its effect
(an audit entry) and then takes 50 ms, prints ``ready``, and dispatches batches of 10 until killed.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medoa.config.settings_test")
    from django.conf import settings

    database, worker_id, lease = json.loads(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    settings.DATABASES["default"].update(database)
    import django

    django.setup()

    from medoa.core.events.dispatcher import dispatch_batch
    from medoa.core.events.registry import Subscriber, event_types, subscribers

    from .conftest import BED_RELEASED, record_effect

    effect = record_effect("testres.slow")

    def slow(event: object) -> None:
        effect(event)  # type: ignore[arg-type]
        time.sleep(0.05)

    event_types.register(BED_RELEASED)
    subscribers.register(Subscriber("testres.slow", ("testres.*",), slow))
    print("ready", flush=True)
    while True:
        if dispatch_batch(worker_id=worker_id, limit=10, lease=lease) == 0:
            time.sleep(0.05)


if __name__ == "__main__":
    main()
