"""The value types of the SpiffWorkflow facade (flow-interfaces.md §B).

Nothing here imports SpiffWorkflow: the services layer may build, compare and store these freely.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.utils import translation
from django.utils.translation import gettext


@dataclass(frozen=True)
class Msg:
    """A translatable text: an English ``msgid`` (marked with ``gettext_noop`` where it is written)
    and its ``%(name)s`` parameters, rendered in the language active when it is shown.

    A parameter may itself be a :class:`Msg` (rendered the same way) or an object with ``msgid``
    and ``params`` (an ``ExpressionError``); anything else is inserted as it is.
    """

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def render(self) -> str:
        """The text in the active language (English where the catalog has no translation)."""
        text = gettext(self.msgid)
        if not self.params:
            return text
        return text % {name: _rendered(value) for name, value in self.params.items()}

    @property
    def english(self) -> str:
        with translation.override("en"):
            return self.render()

    def __str__(self) -> str:
        return self.render()


def msg(msgid: str, **params: Any) -> Msg:
    return Msg(msgid, params)


def expression_msg(error: Any) -> Msg:
    """An ``ExpressionError`` as translatable text (its msgid and parameters, from the rules
    engine's catalog); the refused construct's name (``what``) is translated as well."""
    params = dict(getattr(error, "params", None) or {})
    if isinstance(params.get("what"), str):
        params["what"] = Msg(params["what"])
    return Msg(getattr(error, "msgid", None) or str(error), params)


def _rendered(value: Any) -> Any:
    if isinstance(value, Msg):
        return value.render()
    msgid, params = getattr(value, "msgid", None), getattr(value, "params", None)
    if isinstance(msgid, str) and isinstance(params, Mapping):
        return Msg(msgid, params).render()
    return value


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a BPMN document, found at deploy.

    ``msgid`` is the English message with ``%(name)s`` placeholders for ``params``; ``message`` is
    it rendered in the active language, ``message_en`` in English. ``element_id``/``element_type``
    identify the BPMN element (``element_type`` is its local tag name, e.g. ``userTask``) and
    ``line`` is its 1-based line in the uploaded XML, when known.
    """

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    element_id: str = ""
    element_type: str = ""
    line: int | None = None

    @property
    def text(self) -> Msg:
        return Msg(self.msgid, self.params)

    @property
    def message(self) -> str:
        """The message in the active language."""
        return self.text.render()

    @property
    def message_en(self) -> str:
        return self.text.english

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "message_en": self.message_en,
            "element_id": self.element_id,
            "element_type": self.element_type,
            "line": self.line,
        }

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        what = f"{self.element_type} {self.element_id!r}: " if self.element_id else ""
        return f"{where}{what}{self.message_en}"


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


@dataclass(frozen=True)
class DecisionFacts:
    """What the deploy check needs to know of a deployed DMN decision version (the services look
    it up in the rules engine's tables)."""

    key: str
    version: int
    outputs: tuple[str, ...]
    hit_policy: str = ""


@dataclass(frozen=True)
class DecisionTaskInfo:
    """A business-rule task: the decision it evaluates and where the mapped result goes.

    ``version`` is the decision version the task evaluates: the one named by
    ``camunda:decisionRefVersion`` (binding ``version``), or, for binding ``latest``, the latest
    version when the process version was deployed (pinned then; None only when nothing could be
    looked up, e.g. a parse without the services)."""

    id: str
    name: str
    decision: str
    binding: str
    version: int | None
    result_variable: str
    mapping: str
    process_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "decision": self.decision,
            "binding": self.binding,
            "version": self.version,
            "result_variable": self.result_variable,
            "mapping": self.mapping,
            "process_id": self.process_id,
        }


@dataclass(frozen=True)
class DecisionEvaluated:
    """One business-rule task that ran in an engine call (for the history)."""

    step_id: str
    step_name: str
    decision: str
    version: int | None  # None: the latest at run time (a definition parsed without the services)
    result_variable: str
    mapping: str
    value: Any
    matched_rules: list[int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "version": self.version,
            "result_variable": self.result_variable,
            "mapping": self.mapping,
            "value": self.value,
            "matched_rules": list(self.matched_rules),
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
    decision_tasks: dict[str, DecisionTaskInfo] = field(default_factory=dict)
    # The SpiffWorkflow specs: shared by every instance of this version, never mutated.
    _spec: Any = field(default=None, repr=False, compare=False)
    _subprocess_specs: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # (source step id, target step id) → the ids of the sequence flows between them (SpiffWorkflow's
    # specs keep no flow ids; the diagram needs them to show the path taken)
    _flows: dict[tuple[str, str], list[str]] = field(default_factory=dict, repr=False, compare=False)


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

    def __init__(
        self, message: str, step_id: str = "", *, detail: Msg | None = None, step_name: str = ""
    ) -> None:
        self.message = message  # English
        self.step_id = step_id
        self.step_name = step_name  # the step's name in the model ("" when unknown)
        # the reason as translatable text (e.g. an expression error); the English message else
        self.detail = detail if detail is not None else Msg("%(error)s", {"error": message})
        super().__init__(f"{step_id}: {message}" if step_id else message)

    @property
    def step_label(self) -> str:
        """How to name the step to a person: its name and id, or what is known of them."""
        if self.step_name and self.step_id and self.step_name != self.step_id:
            return f"{self.step_name} ({self.step_id})"
        return self.step_name or self.step_id
