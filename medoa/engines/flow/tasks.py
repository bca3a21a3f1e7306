"""Background work of the process engine: thin wrappers the worker calls (see ``FlowConfig``)."""

from __future__ import annotations

from .services import flow_tick


def flow_tick_job() -> int:
    """The periodic job ``flow.tick`` (every 5 s): due timers, automatic steps, task reminders
    and escalations, timer starts. Returns how many items it handled."""
    return flow_tick()
