"""Every expression SpiffWorkflow evaluates goes through ``medoa.engines.rules.expressions``.

SpiffWorkflow calls ``engine.evaluate(task, expr)`` for gateway conditions, completion conditions,
timer values and message expressions, ``engine.execute(task, script)`` for script tasks, and
``engine.environment.evaluate(...)`` directly (skipping the engine) for message correlation and
some completion conditions. Both are replaced here, so Python's ``eval``/``exec`` are never reached.

Script tasks run a registered function by name (``<bpmn:script>notify_finance</bpmn:script>``):
the function comes from ``medoa.engines.flow.registry.service_functions``; no code from the
model ever runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from medoa.engines.rules.expressions import ExpressionError, check, evaluate

from ..registry import service_functions
from .data import json_safe
from .specs import is_multi_instance, mi_counts


class MedoaEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluates with our safe expression language; refuses to execute code."""

    def evaluate(self, expression: Any, context: Mapping[str, Any], external_context: Any = None) -> Any:
        variables = {**(external_context or {}), **context}
        return evaluate(expression, variables)

    def execute(self, script: Any, context: Any, external_context: Any = None) -> Any:
        raise ExpressionError("scripts are not executed; a script task names a registered function")

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        raise ExpressionError("service calls go through the worker")


class ExpressionFailed(WorkflowTaskException):
    """An expression of the model failed on a task's data (the facade turns it into EngineError
    with the reason as translatable text)."""

    def __init__(self, expression: str, error: ExpressionError, task: Any) -> None:
        self.expression = expression
        self.error = error
        super().__init__(
            f"expression {expression!r} failed: {getattr(error, 'message', str(error))}",
            task=task,
            exception=error,
        )


class MedoaScriptEngine(PythonScriptEngine):
    """The one script engine of every MedOA workflow (stateless, shared)."""

    def __init__(self) -> None:
        super().__init__(environment=MedoaEnvironment())

    def validate(self, expression: str) -> None:
        errors = check(expression)
        if errors:
            raise errors[0]

    def evaluate(self, task: Any, expression: Any, external_context: Any = None) -> Any:
        return self.evaluate_with(task, expression, external_context)

    def evaluate_with(self, task: Any, expression: Any, extra: Mapping[str, Any] | None = None) -> Any:
        """Evaluate on ``task``'s data; ``extra`` wins over the data (the countersign counts do too)."""
        if expression is None:
            return None
        variables: dict[str, Any] = dict(task.data) if task is not None else {}
        if task is not None and is_multi_instance(task.task_spec):
            variables.update(mi_counts(task))
        elif task is not None and task.parent is not None and is_multi_instance(task.parent.task_spec):
            variables.update(mi_counts(task.parent))
        if extra:
            variables.update(extra)
        try:
            return self.environment.evaluate(expression, variables)
        except ExpressionError as exc:
            raise ExpressionFailed(str(expression), exc, task) from exc

    def execute(self, task: Any, script: Any, external_context: Any = None) -> bool:
        name = (script or "").strip()
        if name not in service_functions:
            raise WorkflowTaskException(f"script task: {name!r} is not a registered function", task=task)
        function = service_functions.get(name)
        result = function(json_safe(task.data))
        if isinstance(result, Mapping):
            task.data.update(json_safe(result))
        return True


ENGINE = MedoaScriptEngine()
