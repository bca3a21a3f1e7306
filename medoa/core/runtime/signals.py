"""Stopping on a signal without hanging.

A signal handler runs in the main thread between two bytecodes, possibly while that thread is
inside ``Event.wait()`` holding the event's internal lock; ``Event.set()`` in the handler then
waits for that lock forever (a second handler, for a second signal, piles up on the first). This
happened to ``medoa demo`` given SIGTERM twice: the children stopped, the demo itself never
exited. ``set_from_signal`` leaves the setting to a short-lived thread, which takes the lock once
the main thread lets go of it.
"""

from __future__ import annotations

import threading


def set_from_signal(*events: threading.Event) -> None:
    """Set ``events`` from a signal handler (safe while the main thread waits on them)."""

    def set_all() -> None:
        for event in events:
            event.set()

    threading.Thread(target=set_all, name="signal-stop", daemon=True).start()
