"""Input and output schemas of the process engine's REST API (``medoa.engines.flow.api``).

Inputs forbid unknown fields. ``variables`` must be a JSON object of JSON values: at most
``MAX_VARIABLES_BYTES`` once encoded, nested at most ``MAX_VARIABLES_DEPTH`` levels, finite numbers,
and no NUL characters (PostgreSQL cannot store them), so that nothing a client sends reaches the
engine in a shape it cannot keep.
"""

from __future__ import annotations

import datetime
import json
import math
from typing import Any, Literal

from django.utils.translation import gettext_lazy as _
from ninja import Field, Schema
from pydantic import ConfigDict, field_validator

from medoa.core.apierrors import ErrorOut

MAX_VARIABLES_BYTES = 64 * 1024
MAX_VARIABLES_DEPTH = 16
MAX_COMMENT = 2000
SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"

Action = Literal[
    "approve",
    "reject",
    "complete",
    "return",
    "withdraw",
    "transfer",
    "add_signer",
    "claim",
    "unclaim",
    "urge",
    "cc",
]
Box = Literal["todo", "done", "initiated", "cc"]


# --- checks ---------------------------------------------------------------------------------------


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError(_("Must not contain NUL characters."))
    return value


def _check_json_value(value: Any, depth: int) -> None:
    if depth > MAX_VARIABLES_DEPTH:
        raise ValueError(_("Variables are nested too deeply (at most 16 levels)."))
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(_("Variable names must be text."))
            if "\x00" in key:
                raise ValueError(_("Must not contain NUL characters."))
            _check_json_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json_value(item, depth + 1)
    elif isinstance(value, str):
        if "\x00" in value:
            raise ValueError(_("Must not contain NUL characters."))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(_("Numbers must be finite (no NaN or Infinity)."))
    elif value is not None and not isinstance(value, bool | int):
        raise ValueError(_("Must be a JSON value."))


def check_variables(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` if it is a JSON object within the bounds; ``ValueError`` (lazy message) otherwise."""
    _check_json_value(value, 1)
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except (TypeError, ValueError):
        raise ValueError(_("Must be a JSON value.")) from None
    if size > MAX_VARIABLES_BYTES:
        raise ValueError(_("Variables are too large (at most 64 KB as JSON)."))
    return value


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _text_without_nul(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _no_nul(value)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    _no_nul(item)
        return value


# --- errors ---------------------------------------------------------------------------------------


class ProblemOut(Schema):
    message: str = Field(..., description="The problem, in Chinese where a translation exists")
    message_en: str
    element_id: str
    element_type: str
    line: int | None


class DeployInvalidOut(ErrorOut):
    problems: list[ProblemOut]


# --- definitions ----------------------------------------------------------------------------------


class DeployParams(StrictIn):
    key: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=SLUG_PATTERN,
        description="Process key (default: the BPMN process id)",
    )
    name: str | None = Field(None, min_length=1, max_length=200, description="Default: the process name")
    category: str = Field("", max_length=64)


class DeployedOut(Schema):
    key: str
    version: int
    id: int = Field(..., description="The id of the new version")
    name: str


class PersonRef(Schema):
    id: int
    username: str
    name: str


class DefinitionOut(Schema):
    key: str
    name: str
    category: str
    description: str
    is_active: bool
    latest_version: int | None
    deployed_at: datetime.datetime | None


class VersionOut(Schema):
    id: int
    version: int
    name: str
    process_id: str
    deployed_at: datetime.datetime
    deployed_by: str | None = Field(None, description="Username of the person who deployed it")


class VersionDetailOut(VersionOut):
    checksum: str
    start_form_key: str | None
    user_tasks: list[dict[str, Any]]


class DefinitionDetailOut(DefinitionOut):
    latest: VersionDetailOut | None
    versions: list[VersionOut] = Field(..., description="Every version, newest first")


# --- tasks and instances --------------------------------------------------------------------------


class TaskOut(Schema):
    id: int
    name: str
    task_definition_id: str = Field(..., description="The BPMN step id")
    instance_id: int
    definition_key: str
    assignee: str | None = Field(..., description="Username; null while the task waits to be claimed")
    assignee_name: str | None
    on_behalf_of: str | None = Field(..., description="Username of the person a delegate acts for (委托)")
    on_behalf_of_name: str | None
    created_at: datetime.datetime
    due_at: datetime.datetime | None
    completed_at: datetime.datetime | None
    completed_by: str | None
    status: str
    outcome: str
    form_key: str
    is_countersign: bool


class ActiveTaskOut(TaskOut):
    allowed_actions: list[str] = Field(..., description="What the caller may do with this task now")


class InboxItemOut(Schema):
    id: int | None = Field(
        ..., description="Task id; for initiated/cc: the instance's first open task, null when none"
    )
    name: str
    task_definition_id: str
    instance_id: int
    definition_key: str
    definition_name: str
    instance_title: str
    instance_status: str
    business_key: str
    initiator: str | None
    initiator_name: str | None
    assignee: str | None
    assignee_name: str | None
    on_behalf_of: str | None
    created_at: datetime.datetime | None
    due_at: datetime.datetime | None
    completed_at: datetime.datetime | None
    status: str = Field(..., description="Task status (open, completed …); empty when there is no task")
    outcome: str
    current_tasks: list[TaskOut] = Field(
        default_factory=list, description="initiated/cc: every open task of the instance"
    )
    copied_at: datetime.datetime | None = Field(None, description="cc: when it was copied to the caller")
    copied_by: str | None = Field(None, description="cc: username of who copied it")


class InboxOut(Schema):
    count: int
    items: list[InboxItemOut]


class InboxQuery(Schema):
    box: Box = Field("todo", description="todo 待办 · done 已办 · initiated 我发起的 · cc 抄送我的")
    search: str = Field("", max_length=100)
    definition_key: str = Field("", max_length=64)
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0, le=1_000_000)

    @field_validator("search", "definition_key")
    @classmethod
    def _text(cls, value: str) -> str:
        return _no_nul(value).strip()


class AttachmentOut(Schema):
    id: int
    name: str
    size: int
    content_type: str
    url: str = Field(..., description="Download with the same bearer token")


class HistoryOut(Schema):
    kind: str
    step_id: str
    step_name: str
    actor: str | None
    actor_name: str | None
    on_behalf_of: str | None
    on_behalf_of_name: str | None
    comment: str
    at: datetime.datetime
    duration_seconds: int | None
    task_id: int | None
    attachments: list[AttachmentOut]


class IncidentOut(Schema):
    id: int
    step_id: str
    message: str
    status: str
    created_at: datetime.datetime


class InstanceOut(Schema):
    id: int
    status: str
    outcome: str
    definition_key: str
    definition_name: str
    version: int
    business_key: str
    title: str
    initiator: str | None
    initiator_name: str | None
    started_at: datetime.datetime
    ended_at: datetime.datetime | None
    has_incident: bool
    variables: dict[str, Any]
    active_tasks: list[ActiveTaskOut]
    history: list[HistoryOut]
    incidents: list[IncidentOut] = Field(
        default_factory=list, description="Open incidents (instance administrators only)"
    )


class InstanceStartIn(StrictIn):
    definition_key: str = Field(..., min_length=1, max_length=64)
    variables: dict[str, Any] = Field(default_factory=dict)
    business_key: str = Field("", max_length=200)
    title: str = Field("", max_length=300)
    form: dict[str, Any] | None = Field(
        None,
        description="The start form's data, when the start event binds a MedOA form "
        '(camunda:formKey="medoa:form:<key>"); required then. Validated by the form engine; its '
        "values become process variables and a record of the form.",
    )
    form_version: int | None = Field(
        None, ge=1, description="The form version the data was filled in for (409 when another is current)"
    )

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_variables(value)


class InstanceStartedOut(Schema):
    id: int
    status: str
    outcome: str
    active_tasks: list[TaskOut]


class InstanceStateOut(Schema):
    id: int
    status: str
    outcome: str
    version: int
    active_tasks: list[TaskOut]


class ReasonIn(StrictIn):
    reason: str = Field("", max_length=500)


class MigrateIn(StrictIn):
    version: int = Field(..., ge=1, le=1_000_000)


class TaskActionIn(StrictIn):
    action: Action
    variables: dict[str, Any] = Field(default_factory=dict)
    comment: str = Field("", max_length=MAX_COMMENT)
    to_user: str | None = Field(None, min_length=1, max_length=150, description="transfer, add_signer")
    to_step: str | None = Field(None, min_length=1, max_length=200, description="return (default: the start)")
    position: Literal["before", "after", "alongside"] | None = Field(None, description="add_signer")
    to_users: list[str] | None = Field(None, min_length=1, max_length=50, description="cc: usernames")
    form: dict[str, Any] | None = Field(
        None,
        description="approve, reject, complete on a step with a MedOA form: the form's data (left out: "
        "the form as it stands). Read-only fields must keep their values and hidden ones must not be "
        "sent (422 naming the field, code readonly / hidden).",
    )

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_variables(value)

    @field_validator("to_users")
    @classmethod
    def _usernames(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        names = [_no_nul(v).strip() for v in value]
        if any(not n or len(n) > 150 for n in names):
            raise ValueError(_("Each entry must be a username."))
        return list(dict.fromkeys(names))


class TaskActionOut(Schema):
    task: TaskOut
    instance: InstanceStateOut


class StepFormOut(Schema):
    key: str = Field(..., description="The form's key")
    version: int = Field(..., description="The form version the record (or a new one) uses")
    record_id: int | None = Field(
        ..., description="The instance's record of the form (null before the first)"
    )
    form_schema: dict[str, Any] = Field(
        ...,
        description="The form-js schema as this step shows it: hidden fields removed, read-only ones "
        "marked readonly",
    )
    data: dict[str, Any] = Field(..., description="The record's values without the hidden fields")
    permissions: dict[str, str] = Field(..., description="field key → readonly | hidden (others: editable)")


class TaskDetailOut(ActiveTaskOut):
    instance_title: str
    instance_status: str
    return_targets: list[dict[str, str]] = Field(..., description="Steps the task may be returned to")
    form: StepFormOut | None = Field(None, description="The step's MedOA form (null when it has none)")


class BatchApproveIn(StrictIn):
    task_ids: list[int] = Field(..., min_length=1, max_length=100)
    comment: str = Field("", max_length=MAX_COMMENT)


class BatchResultOut(Schema):
    task_id: int
    ok: bool
    message: str
    message_en: str


class BatchApproveOut(Schema):
    approved: int
    failed: int
    results: list[BatchResultOut]


class MessageIn(StrictIn):
    name: str = Field(..., min_length=1, max_length=200)
    business_key: str = Field("", max_length=200)
    variables: dict[str, Any] = Field(default_factory=dict)

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_variables(value)


class MessageOut(Schema):
    correlated: list[int]
    started: list[int]


class IncidentRetryOut(Schema):
    id: int
    status: str
    instance: InstanceStateOut
