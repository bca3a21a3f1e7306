"""The SpiffWorkflow facade: the ONLY package in MedOA that imports SpiffWorkflow.

Public names (flow-interfaces.md §B): :func:`parse_definition`, :func:`cached_definition`,
:class:`Workflow` and the value types. See ``definition.py`` (deploy checks and the spec cache),
``workflow.py`` (driving an instance), ``parser.py``/``specs.py`` (our SpiffWorkflow subclasses),
``engine.py`` (expressions through ``medoa.engines.rules.expressions``) and ``clock.py`` (the timer
clock tests move).
"""

import logging

from .definition import cached_definition, clear_definition_cache, parse_definition
from .types import (
    CountersignInfo,
    DecisionEvaluated,
    DecisionFacts,
    DecisionTaskInfo,
    DefinitionInvalid,
    EngineError,
    Msg,
    ParsedDefinition,
    Problem,
    ReadyServiceTask,
    ReadyUserTask,
    UserTaskInfo,
)
from .workflow import Workflow

# SpiffWorkflow logs every task state change at INFO (and attaches the task data below INFO):
# MedOA records its own history, so keep SpiffWorkflow to warnings.
for _name in ("spiff", "spiff.task", "spiff.workflow"):
    logging.getLogger(_name).setLevel(logging.WARNING)

__all__ = [
    "CountersignInfo",
    "DecisionEvaluated",
    "DecisionFacts",
    "DecisionTaskInfo",
    "DefinitionInvalid",
    "EngineError",
    "Msg",
    "ParsedDefinition",
    "Problem",
    "ReadyServiceTask",
    "ReadyUserTask",
    "UserTaskInfo",
    "Workflow",
    "cached_definition",
    "clear_definition_cache",
    "parse_definition",
]
