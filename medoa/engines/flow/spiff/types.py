"""The value types of the SpiffWorkflow facade (flow-interfaces.md §B).

Nothing here imports SpiffWorkflow: the services layer may build, compare and store these freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a BPMN document, found at deploy.

    ``message`` is English text naming the element and the reason; ``element_id``/``element_type``
    identify the BPMN element (``element_type`` is its local tag name, e.g. ``userTask``) and
    ``line`` is its 1-based line in the uploaded XML, when known.
    """

    message: str
    element_id: str = ""
    element_type: str = ""
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "element_id": self.element_id,
            "element_type": self.element_type,
            "line": self.line,
        }

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        what = f"{self.element_type} {self.element_id!r}: " if self.element_id else ""
        return f"{where}{what}{self.message}"


class DefinitionInvalid(Exception):
    """A BPMN document that cannot be deployed; ``problems`` lists every reason found in one pass."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        summary = "; ".join(str(p) for p in self.problems[:5])
        more = f" (+{len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"{len(self.problems)} problem(s): {summary}{more}")


@dataclass(frozen=True)
class CountersignInfo:
    """A multi-instance user task (会签): one share per item of ``collection``.

    ``collection`` is the variable holding the items (usually usernames), ``element_variable`` the
    variable each share sees its item in, ``completion_condition`` the expression checked after
    each vote (None: everyone must sign), ``sequential`` one share at a time.
    """

    collection: str | None
    element_variable: str | None
    completion_condition: str | None
    sequential: bool
    cardinality: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "element_variable": self.element_variable,
            "completion_condition": self.completion_condition,
            "sequential": self.sequential,
            "cardinality": self.cardinality,
        }


@dataclass(frozen=True)
class UserTaskInfo:
    """Facts read off a user task at deploy (also stored in ``ProcessVersion.metadata``)."""

    id: str
    name: str
    assignee: str | None
    candidate_users: list[str]
    candidate_groups: list[str]
    form_key: str | None
    due_date: str | None
    countersign: CountersignInfo | None
    properties: dict[str, str]
    process_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "assignee": self.assignee,
            "candidate_users": list(self.candidate_users),
            "candidate_groups": list(self.candidate_groups),
            "form_key": self.form_key,
            "due_date": self.due_date,
            "countersign": self.countersign.as_dict() if self.countersign else None,
            "properties": dict(self.properties),
            "process_id": self.process_id,
        }


@dataclass
class ParsedDefinition:
    """A deployable process: the facts the services need, plus the parsed (read-only) specs."""

    process_id: str
    name: str
    user_tasks: dict[str, UserTaskInfo]
    start_form_key: str | None
    initiator_variable: str | None
    service_tasks: dict[str, str]
    called_processes: set[str]
    timer_start: str | None
    message_starts: set[str]
    message_catches: set[str]
    metadata: dict[str, Any]
    # The SpiffWorkflow specs: shared by every instance of this version, never mutated.
    _spec: Any = field(default=None, repr=False, compare=False)
    _subprocess_specs: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class ReadyUserTask:
    """A user task waiting for a person (one share of a countersign is one ReadyUserTask)."""

    spiff_id: UUID
    step_id: str
    name: str
    data: dict[str, Any]
    countersign_parent: UUID | None
    countersign_item: Any


@dataclass(frozen=True)
class ReadyServiceTask:
    """An automatic step waiting for the worker to call its registered function."""

    spiff_id: UUID
    step_id: str
    function: str
    data: dict[str, Any]


class EngineError(Exception):
    """The engine failed while running a step (an expression error, a missing variable …).

    The in-memory workflow is left half-changed: never save it; roll back and reload.
    """

    def __init__(self, message: str, step_id: str = "") -> None:
        self.message = message
        self.step_id = step_id
        super().__init__(f"{step_id}: {message}" if step_id else message)
