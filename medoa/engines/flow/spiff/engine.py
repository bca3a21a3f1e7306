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

from django.utils.translation import gettext_noop
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from medoa.engines.rules.dmn import DecisionResult, DmnEvaluationError, to_json
from medoa.engines.rules.errors import RulesInputError, RulesNotFound
from medoa.engines.rules.expressions import ExpressionError, check, evaluate
from medoa.engines.rules.services import decision_run

from ..registry import service_functions
from .data import json_safe
from .specs import is_multi_instance, mi_counts
from .types import DecisionEvaluated, Msg, msg


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


class DecisionFailed(WorkflowTaskException):
    """A business-rule task's decision gave no usable result (the facade turns it into EngineError
    with ``detail``, translatable)."""

    def __init__(self, detail: Msg, task: Any) -> None:
        self.detail = detail
        super().__init__(detail.english, task=task)


def map_decision_result(result: DecisionResult, mapping: str) -> tuple[Any, Msg | None]:
    """Camunda 7's ``mapDecisionResult`` over a decision's result: ``(value, None)`` or
    ``(None, why it cannot be mapped)``.

    The result is a list of rule results (dicts of outputs): one per selected rule, one with the
    aggregate for COLLECT with an aggregation, one ``{variable: value}`` for a literal expression,
    none when nothing matched (and no defaults). ``resultList`` is that list; ``singleResult`` its
    one dict (None when empty); ``collectEntries`` the one output of each; ``singleEntry`` the one
    output of the one dict (None when empty)."""
    value = result.value
    rows: list[dict[str, Any]] = (
        [] if value is None else [dict(value)] if isinstance(value, dict) else [dict(r) for r in value]
    )
    rows = [to_json(r) for r in rows]
    if mapping == "resultList":
        return rows, None
    if mapping in ("singleEntry", "singleResult") and len(rows) > 1:
        return None, msg(
            gettext_noop(
                "%(mapping)s needs at most one result, but the decision gave %(count)s (rules %(rules)s)"
            ),
            mapping=mapping,
            count=len(rows),
            rules=", ".join(str(n) for n in result.selected) or "-",
        )
    wide = next((r for r in rows if len(r) != 1), None)
    if mapping in ("singleEntry", "collectEntries") and wide is not None:
        return None, msg(
            gettext_noop("%(mapping)s needs one output per result, but a result has %(count)s (%(outputs)s)"),
            mapping=mapping,
            count=len(wide),
            outputs=", ".join(wide),
        )
    if mapping == "singleResult":
        return (rows[0] if rows else None), None
    if mapping == "singleEntry":
        return (next(iter(rows[0].values())) if rows else None), None
    return [next(iter(r.values())) for r in rows], None


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

    def decide(self, task: Any, spec: Any) -> None:
        """Run a business-rule task: evaluate its decision (the pinned version) on the task's
        variables, put the mapped result into its result variable, and note the evaluation on the
        top workflow for the history (``Workflow.take_decisions``)."""
        key, version = spec.decision_ref, spec.version
        where = {"decision": key, "version": version if version is not None else "latest"}
        try:
            result = decision_run(key=key, inputs=json_safe(task.data), version=version)
        except DmnEvaluationError as exc:
            raise DecisionFailed(
                msg(
                    gettext_noop("decision '%(decision)s' (version %(version)s) has no answer: %(error)s"),
                    **where,
                    error=Msg(exc.msgid, exc.params),
                ),
                task,
            ) from exc
        except (RulesNotFound, RulesInputError) as exc:
            raise DecisionFailed(
                msg(
                    gettext_noop(
                        "decision '%(decision)s' (version %(version)s) cannot be evaluated: %(error)s"
                    ),
                    **where,
                    error=exc.message,
                ),
                task,
            ) from exc
        value, problem = map_decision_result(result, spec.mapping)
        if problem is not None:
            raise DecisionFailed(
                msg(
                    gettext_noop("the result of decision '%(decision)s' (version %(version)s): %(error)s"),
                    **where,
                    error=problem,
                ),
                task,
            )
        task.data[spec.result_variable] = value
        top = task.workflow.top_workflow
        log = top.__dict__.setdefault("medoa_decisions", [])
        log.append(
            DecisionEvaluated(
                step_id=str(spec.bpmn_id or spec.name),
                step_name=str(spec.bpmn_name or spec.bpmn_id or ""),
                decision=key,
                version=version,
                result_variable=spec.result_variable,
                mapping=spec.mapping,
                value=value,
                matched_rules=list(result.selected),
            )
        )

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
