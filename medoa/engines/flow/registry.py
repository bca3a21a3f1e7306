"""Automatic steps of a process: Python functions registered by name.

A BPMN service task names its function (``camunda:class``, ``camunda:delegateExpression``,
``camunda:expression`` or ``camunda:topic``), a script task names it as its script body. Apps
register functions in their ``AppConfig.ready()``::

    service_functions.register("approvals.notify_finance", notify_finance)

A function receives a copy of the process variables (JSON values) and returns the variables to
set (a dict) or None. The worker runs service tasks with retries; script tasks run inside the
engine step that reaches them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from medoa.core.registries import Registry

ServiceFunction = Callable[[dict[str, Any]], dict[str, Any] | None]

service_functions: Registry[ServiceFunction] = Registry("flow service functions")
