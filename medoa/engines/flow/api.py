"""REST endpoints of the process engine (mounted at /api/v1/flow by medoa.api.api).

People authenticate with ``Authorization: Bearer <token>``. Every error has the API's shape
(``{"detail", "detail_en"}`` and, for invalid fields, ``"errors"``); a deploy that fails lists every
problem of the model under ``"problems"``. A missing permission answers 403; an instance or a task
the caller may not see answers 404.

Definitions
    ``POST /definitions`` — deploy BPMN XML (raw body, or a multipart ``file``); ``key``, ``name``,
    ``category`` as query parameters or form fields; needs ``flow.definition.design``.
    ``GET /definitions``, ``GET /definitions/{key}`` — startable definitions (designers: all).
Instances
    ``POST /instances`` — start; ``GET /instances/{id}`` — status, variables, active tasks, history.
    ``POST /instances/{id}/cancel|suspend|resume|migrate`` — ``flow.instance.admin`` (the initiator may
    cancel where the process allows it); ``POST /incidents/{id}/retry``.
Tasks
    ``GET /tasks?box=todo|done|initiated|cc`` — the inboxes; ``GET /tasks/{id}``;
    ``POST /tasks/{id}/actions`` — approve, reject, complete, return, withdraw, transfer, add_signer,
    claim, unclaim, urge, cc; ``POST /tasks/batch-approve``.
Messages
    ``POST /messages`` — correlate a message by name and business key (``flow.message.send``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.core.files.uploadedfile import UploadedFile
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import ValidationError as PydanticValidationError

from medoa.core.access.models import User
from medoa.core.access.policy import has_perm
from medoa.core.apierrors import (
    MESSAGES,
    ZH,
    ErrorOut,
    InvalidOut,
    api_user,
    http_error,
    in_both,
    translate_error,
)
from medoa.core.org.models import Staff

from . import form_link, selectors, services
from .attachments import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, attachment_response
from .choices import TaskStatus
from .errors import FlowConflict, FlowError, FlowNotFound, FlowPermissionDenied, fmt
from .models import HumanTask, Incident, ProcessEvent, ProcessInstance, ProcessVersion
from .schemas import (
    BatchApproveIn,
    BatchApproveOut,
    DefinitionDetailOut,
    DefinitionOut,
    DeployedOut,
    DeployInvalidOut,
    DeployParams,
    InboxOut,
    InboxQuery,
    IncidentRetryOut,
    InstanceOut,
    InstanceStartedOut,
    InstanceStartIn,
    InstanceStateOut,
    MessageIn,
    MessageOut,
    MigrateIn,
    ReasonIn,
    TaskActionIn,
    TaskActionOut,
    TaskDetailOut,
)
from .spiff import DefinitionInvalid, Problem

router = Router(tags=["flow"])

T = TypeVar("T")
S = TypeVar("S", bound=Schema)

MAX_BPMN_BYTES = 5 * 1024 * 1024
MULTIPART_SLACK = 64 * 1024  # form boundaries and the small text fields around the file
MAX_ACTION_UPLOAD = MAX_ATTACHMENTS * MAX_ATTACHMENT_BYTES + 1024 * 1024  # the files and the fields
KEY_RE = re.compile(r"[-a-zA-Z0-9_]{1,64}")
PERM_DESIGN = "flow.definition.design"
PERM_ADMIN = "flow.instance.admin"
PERM_MESSAGE = "flow.message.send"

ERRORS: dict[int, Any] = {
    400: InvalidOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: InvalidOut,
}


def _responses(ok: dict[int, Any], *codes: int) -> dict[int, Any]:
    return {**ok, **{code: ERRORS[code] for code in (401, *codes)}}


# --- errors ---------------------------------------------------------------------------------------


def _field_error(field: str, message: Any, *, kind: str = "invalid") -> dict[str, str]:
    zh, en = in_both(message)
    return {"field": field, "message": zh, "message_en": en, "type": kind}


def _invalid(field: str, message: Any) -> HttpError:
    """422 naming ``field``; the message leads so that a client can show it as it is."""
    return http_error(422, message, errors=[_field_error(field, message)])


def _from_flow_error(exc: FlowError) -> HttpError:
    message: Any = exc.message
    if isinstance(exc, FlowPermissionDenied):
        return http_error(403, message)
    if isinstance(exc, FlowNotFound):
        return http_error(404, message)
    if isinstance(exc, FlowConflict):
        return http_error(409, message)
    if isinstance(exc, services.FormInvalid):
        return http_error(
            422,
            message,
            errors=[
                _field_error(f"form.{field}" if field else "form", text, kind=code)
                for field, code, text in exc.field_errors
            ],
        )
    errors = exc.errors or [(exc.field or "", message)]
    return http_error(422, message, errors=[_field_error(field or "", text) for field, text in errors])


def _call(fn: Callable[..., T], **kwargs: Any) -> T:
    """One service or selector call; the flow errors become HTTP errors."""
    try:
        return fn(**kwargs)
    except FlowError as exc:
        raise _from_flow_error(exc) from None


def _problems_error(problems: Iterable[Problem]) -> HttpError:
    """400 listing every problem of a model, each message in Chinese and in English."""
    rows = []
    for problem in problems:
        with translation.override(ZH):
            zh = problem.message
        rows.append(
            {
                "message": zh,
                "message_en": problem.message_en,
                "element_id": problem.element_id or "",
                "element_type": problem.element_type or "",
                "line": problem.line,
            }
        )
    return http_error(400, _("The process model cannot be deployed; nothing was changed."), problems=rows)


def _validation_error(exc: PydanticValidationError, source: str) -> HttpError:
    """A schema's validation failure in the API's shape (each message in Chinese and English)."""
    errors = [
        translate_error({**err, "loc": (source, "payload", *err["loc"])}, (err.get("ctx") or {}).get("error"))
        for err in exc.errors(include_url=False)
    ]
    return http_error(422, _("The request is not valid."), errors=errors)


def _optional_body(request: HttpRequest, schema: type[S]) -> S:
    """``schema`` from a JSON body that may be left out altogether (then: its defaults); form
    fields are accepted too."""
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            return schema.model_validate(request.POST.dict())
        except PydanticValidationError as exc:
            raise _validation_error(exc, "form") from None
    raw = request.body
    if not raw.strip():
        return schema()
    try:
        return schema.model_validate_json(raw)
    except PydanticValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            errors = [translate_error({"type": "json_invalid", "loc": ("body",)})]
            raise http_error(400, MESSAGES["json_invalid"], errors=errors) from None
        raise _validation_error(exc, "body") from None


def _require(user: User, permission: str) -> None:
    if not has_perm(user, permission):
        raise http_error(403, _("You do not have permission to do this."))


# --- shaping --------------------------------------------------------------------------------------


def _username(staff: Staff | None) -> str | None:
    return staff.user.username if staff is not None else None


def _name(staff: Staff | None) -> str | None:
    return staff.name if staff is not None else None


TASK_RELATED = (
    "instance__definition",
    "assignee__user",
    "on_behalf_of__user",
    "completed_by__user",
)


def _task_out(task: HumanTask) -> dict[str, Any]:
    return {
        "id": task.pk,
        "name": task.name,
        "task_definition_id": task.task_def_id,
        "instance_id": task.instance_id,
        "definition_key": task.instance.definition.key,
        "assignee": _username(task.assignee),
        "assignee_name": _name(task.assignee),
        "on_behalf_of": _username(task.on_behalf_of),
        "on_behalf_of_name": _name(task.on_behalf_of),
        "created_at": task.created_at,
        "due_at": task.due_at,
        "completed_at": task.completed_at,
        "completed_by": _username(task.completed_by),
        "status": task.status,
        "outcome": task.outcome,
        "form_key": task.form_key,
        "is_countersign": task.is_countersign,
    }


def _open_tasks(instance: ProcessInstance) -> list[HumanTask]:
    return list(
        HumanTask.objects.filter(instance=instance, status=TaskStatus.OPEN)
        .select_related(*TASK_RELATED)
        .order_by("created_at", "id")
    )


def _instance_state(instance: ProcessInstance) -> dict[str, Any]:
    return {
        "id": instance.pk,
        "status": instance.status,
        "outcome": instance.outcome,
        "version": instance.version.version,
        "active_tasks": [_task_out(t) for t in _open_tasks(instance)],
    }


def _inbox_task_item(task: HumanTask) -> dict[str, Any]:
    instance = task.instance
    return {
        **_instance_fields(instance),
        "id": task.pk,
        "name": task.name,
        "task_definition_id": task.task_def_id,
        "assignee": _username(task.assignee),
        "assignee_name": _name(task.assignee),
        "on_behalf_of": _username(task.on_behalf_of),
        "created_at": task.created_at,
        "due_at": task.due_at,
        "completed_at": task.completed_at,
        "status": task.status,
        "outcome": task.outcome,
        "current_tasks": [],
    }


def _instance_fields(instance: ProcessInstance) -> dict[str, Any]:
    return {
        "instance_id": instance.pk,
        "definition_key": instance.definition.key,
        "definition_name": instance.definition.name,
        "instance_title": instance.title,
        "instance_status": instance.status,
        "business_key": instance.business_key,
        "initiator": _username(instance.initiator),
        "initiator_name": _name(instance.initiator),
    }


def _inbox_instance_item(instance: ProcessInstance) -> dict[str, Any]:
    current: list[HumanTask] = list(getattr(instance, "open_tasks", []))
    first = current[0] if current else None
    return {
        **_instance_fields(instance),
        "id": first.pk if first else None,
        "name": first.name if first else "",
        "task_definition_id": first.task_def_id if first else "",
        "assignee": _username(first.assignee) if first else None,
        "assignee_name": _name(first.assignee) if first else None,
        "on_behalf_of": _username(first.on_behalf_of) if first else None,
        "created_at": first.created_at if first else None,
        "due_at": first.due_at if first else None,
        "completed_at": None,
        "status": first.status if first else "",
        "outcome": "",
        "current_tasks": [_task_out(t) for t in current],
    }


def _open_tasks_prefetch(prefix: str) -> Prefetch:
    return Prefetch(
        f"{prefix}tasks",
        queryset=HumanTask.objects.filter(status=TaskStatus.OPEN)
        .select_related(*TASK_RELATED)
        .order_by("created_at", "id"),
        to_attr="open_tasks",
    )


def _inbox_page(qs: QuerySet[Any], offset: int, limit: int) -> list[dict[str, Any]]:
    model = qs.model
    if model is HumanTask:
        tasks = qs.select_related(*TASK_RELATED, "instance__initiator__user")[offset : offset + limit]
        return [_inbox_task_item(t) for t in tasks]
    if model is ProcessInstance:
        instances = qs.select_related("definition", "initiator__user").prefetch_related(
            _open_tasks_prefetch("")
        )[offset : offset + limit]
        return [_inbox_instance_item(i) for i in instances]
    copies = qs.select_related("instance__definition", "instance__initiator__user", "sent_by__user")
    items = []
    for copy in copies.prefetch_related(_open_tasks_prefetch("instance__"))[offset : offset + limit]:
        item = _inbox_instance_item(copy.instance)
        item["copied_at"] = copy.created_at
        item["copied_by"] = _username(copy.sent_by)
        items.append(item)
    return items


def _history_out(event: ProcessEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "step_id": event.step_id,
        "step_name": event.step_name,
        "actor": _username(event.actor),
        "actor_name": _name(event.actor),
        "on_behalf_of": _username(event.on_behalf_of),
        "on_behalf_of_name": _name(event.on_behalf_of),
        "comment": event.comment,
        "at": event.at,
        "duration_seconds": event.duration_seconds,
        "task_id": event.task_id,
        "attachments": [
            {
                "id": a.pk,
                "name": a.name,
                "size": a.size,
                "content_type": a.content_type,
                "url": reverse("api:flow_attachment_download", kwargs={"attachment_id": a.pk}),
            }
            for a in event.attachments.all()
        ],
    }


def _version_out(version: ProcessVersion) -> dict[str, Any]:
    return {
        "id": version.pk,
        "version": version.version,
        "name": version.name,
        "process_id": version.process_id,
        "deployed_at": version.deployed_at,
        "deployed_by": version.deployed_by.get_username() if version.deployed_by else None,
    }


def _definition_out(definition: Any) -> dict[str, Any]:
    latest: ProcessVersion | None = definition.latest_version
    return {
        "key": definition.key,
        "name": definition.name,
        "category": definition.category,
        "description": definition.description,
        "is_active": definition.is_active,
        "latest_version": latest.version if latest else None,
        "deployed_at": latest.deployed_at if latest else None,
    }


# --- definitions ----------------------------------------------------------------------------------

DEPLOY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/xml": {"schema": {"type": "string", "description": "BPMN 2.0 XML (≤ 5 MB)"}},
            "text/xml": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "a .bpmn file"},
                        "key": {"type": "string"},
                        "name": {"type": "string"},
                        "category": {"type": "string"},
                    },
                }
            },
        },
    }
}


def _deploy_params(request: HttpRequest, query: DeployParams) -> DeployParams:
    """Query parameters, overridden by multipart form fields of the same names."""
    if request.content_type != "multipart/form-data":
        return query
    values = {k: v for k, v in query.model_dump().items() if v not in (None, "")}
    values.update({k: request.POST[k] for k in ("key", "name", "category") if request.POST.get(k)})
    try:
        return DeployParams.model_validate(values)
    except PydanticValidationError as exc:
        raise _validation_error(exc, "form") from None


def _too_large() -> HttpError:
    return http_error(413, _("The BPMN file is too large (at most 5 MB)."))


def _content_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except (TypeError, ValueError):
        return 0


def _read_bpmn(request: HttpRequest) -> bytes:
    length = _content_length(request)
    if request.content_type == "multipart/form-data":
        if length > MAX_BPMN_BYTES + MULTIPART_SLACK:
            raise _too_large()
        upload = request.FILES.get("file")
        if upload is None:
            raise _invalid("file", _("Send the BPMN XML as the file field “file”, or as the request body."))
        if upload.size is not None and upload.size > MAX_BPMN_BYTES:
            raise _too_large()
        data = upload.read()
    else:
        if length > MAX_BPMN_BYTES:
            raise _too_large()
        data = request.body
    if len(data) > MAX_BPMN_BYTES:
        raise _too_large()
    if not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        message = _("This is not BPMN XML: the content must be an XML document.")
        zh, en = in_both(message)
        problem = {"message": zh, "message_en": en, "element_id": "", "element_type": "", "line": 1}
        raise http_error(400, message, problems=[problem])
    return data


@router.post(
    "/definitions",
    response=_responses({201: DeployedOut, 400: DeployInvalidOut, 413: ErrorOut}, 403, 422),
    summary="Deploy a BPMN model (a new version of its key)",
    description="Send BPMN 2.0 XML as the request body (`Content-Type: application/xml`) or as the "
    "multipart file field `file`. `key` (default: the BPMN process id), `name` and `category` are "
    "query parameters or form fields. A model with problems answers 400 with every problem under "
    "`problems` (`message`, `element_id`, `element_type`, `line`) and deploys nothing.",
    openapi_extra=DEPLOY_BODY,
)
def definitions_deploy(request: HttpRequest, params: Query[DeployParams]) -> Any:
    user = api_user(request)
    _require(user, PERM_DESIGN)
    xml = _read_bpmn(request)
    options = _deploy_params(request, params)
    try:
        version = _call(
            services.definition_deploy,
            actor=user,
            xml=xml,
            key=options.key,
            name=options.name,
            category=options.category,
        )
    except DefinitionInvalid as exc:
        raise _problems_error(exc.problems) from None
    return Status(
        201,
        {
            "key": version.definition.key,
            "version": version.version,
            "id": version.pk,
            "name": version.definition.name,
        },
    )


@router.get(
    "/definitions",
    response=_responses({200: list[DefinitionOut]}),
    summary="Process definitions: those the caller may start (designers: all)",
)
def definitions_list(request: HttpRequest) -> Any:
    user = api_user(request)
    return [_definition_out(d) for d in _call(selectors.definition_list, user=user)]


@router.get(
    "/definitions/{key}",
    response=_responses({200: DefinitionDetailOut}, 404),
    summary="One definition: its latest version and every version",
)
def definitions_get(request: HttpRequest, key: str) -> Any:
    user = api_user(request)
    definition = None
    if KEY_RE.fullmatch(key):
        definition = _call(selectors.definition_list, user=user).filter(key=key).first()
    if definition is None:
        raise http_error(404, _("There is no such process definition."))
    versions = list(definition.versions.select_related("deployed_by").order_by("-version"))
    latest = next((v for v in versions if v.pk == definition.latest_version_id), None)
    out = _definition_out(definition)
    out["versions"] = [_version_out(v) for v in versions]
    out["latest"] = None
    if latest is not None:
        metadata = latest.metadata if isinstance(latest.metadata, dict) else {}
        tasks = metadata.get("user_tasks") or {}
        out["latest"] = {
            **_version_out(latest),
            "checksum": latest.checksum,
            "start_form_key": metadata.get("start_form_key"),
            "user_tasks": list(tasks.values()) if isinstance(tasks, dict) else list(tasks),
        }
    return out


# --- instances ------------------------------------------------------------------------------------


@router.post(
    "/instances",
    response=_responses({201: InstanceStartedOut}, 403, 404),
    summary="Start a process instance on the latest version of a definition",
    description="`variables` is a JSON object (at most 64 KB, 16 levels). An unknown definition "
    "answers 404; a step that cannot be assigned (no one holds the role …) answers 422.",
)
def instances_start(request: HttpRequest, payload: InstanceStartIn) -> Any:
    user = api_user(request)
    instance = _call(
        services.instance_start,
        actor=user,
        definition_key=payload.definition_key,
        variables=payload.variables,
        business_key=payload.business_key,
        title=payload.title,
        form_data=payload.form,
        form_version=payload.form_version,
    )
    return Status(
        201,
        {
            "id": instance.pk,
            "status": instance.status,
            "outcome": instance.outcome,
            "active_tasks": [_task_out(t) for t in _open_tasks(instance)],
        },
    )


@router.get(
    "/instances/{instance_id}",
    response=_responses({200: InstanceOut}, 404),
    summary="One instance: status, variables, active tasks (with what the caller may do), history",
    description="Participants (initiator, assignees, candidates, people copied, delegates), instance "
    "viewers within their scope and administrators see an instance; anyone else gets 404.",
)
def instances_get(request: HttpRequest, instance_id: int) -> Any:
    user = api_user(request)
    instance = _call(selectors.instance_get_for_user, user=user, instance_id=instance_id)
    history = _call(selectors.instance_history, instance=instance)
    active = []
    for task in _open_tasks(instance):
        out = _task_out(task)
        out["allowed_actions"] = _call(selectors.task_allowed_actions, user=user, task=task)
        active.append(out)
    incidents: list[Incident] = []
    if instance.has_incident and has_perm(user, PERM_ADMIN):
        incidents = selectors.instance_open_incidents(instance=instance)
    return {
        "id": instance.pk,
        "status": instance.status,
        "outcome": instance.outcome,
        "definition_key": instance.definition.key,
        "definition_name": instance.definition.name,
        "version": instance.version.version,
        "business_key": instance.business_key,
        "title": instance.title,
        "initiator": _username(instance.initiator),
        "initiator_name": _name(instance.initiator),
        "started_at": instance.started_at,
        "ended_at": instance.ended_at,
        "has_incident": instance.has_incident,
        "variables": _visible_variables(user, instance),
        "active_tasks": active,
        "history": [_history_out(e) for e in history],
        "incidents": [
            {
                "id": i.pk,
                "step_id": i.step_id,
                "message": i.message,
                "status": i.status,
                "created_at": i.created_at,
            }
            for i in incidents
        ],
    }


def _visible_variables(user: User, instance: ProcessInstance) -> dict[str, Any]:
    """The variables without the form fields hidden at some step, except for the initiator (who
    filled them in) and instance administrators."""
    variables = instance.variables if isinstance(instance.variables, dict) else {}
    staff = selectors.staff_of(user)
    sees_all = (staff is not None and instance.initiator_id == staff.pk) or has_perm(user, PERM_ADMIN)
    return form_link.visible_variables(
        parsed=selectors.parsed_version(instance.version), variables=variables, sees_all=sees_all
    )


def _step_form_out(task: HumanTask) -> dict[str, Any] | None:
    if form_link.medoa_form_key(task.form_key) is None:
        return None
    instance = task.instance
    view = form_link.task_view(
        parsed=selectors.parsed_version(instance.version),
        step_id=task.task_def_id,
        instance_id=instance.pk,
        variables=instance.variables or {},
    )
    if view is None:
        return None
    return {
        "key": view.key,
        "version": view.version.version,
        "record_id": view.record.pk if view.record is not None else None,
        "form_schema": view.schema,
        "data": view.data,
        "permissions": view.permissions,
    }


REASON_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"reason": {"type": "string", "maxLength": 500}},
                    "additionalProperties": False,
                }
            }
        },
    }
}


def _instance_for_admin(user: User, instance_id: int) -> ProcessInstance:
    instance = _call(selectors.instance_get_for_user, user=user, instance_id=instance_id)
    _require(user, PERM_ADMIN)
    return instance


def _change_state(
    request: HttpRequest, instance_id: int, service: Callable[..., Any], *, admin_only: bool
) -> dict[str, Any]:
    """cancel / suspend / resume: find the instance (an administrator's, when ``admin_only``; else
    the service decides who may), read the optional ``reason``, call ``service``, answer the state."""
    user = api_user(request)
    if admin_only:
        instance = _instance_for_admin(user, instance_id)
    else:
        instance = _call(selectors.instance_get_for_user, user=user, instance_id=instance_id)
    reason = _optional_body(request, ReasonIn).reason
    _call(service, actor=user, instance=instance, reason=reason)
    instance.refresh_from_db()
    return _instance_state(instance)


@router.post(
    "/instances/{instance_id}/cancel",
    response=_responses({200: InstanceStateOut}, 400, 403, 404, 409, 422),
    summary="Cancel an instance (instance administrators; the initiator where the process allows it)",
    openapi_extra=REASON_BODY,
)
def instances_cancel(request: HttpRequest, instance_id: int) -> Any:
    return _change_state(request, instance_id, services.instance_cancel, admin_only=False)


@router.post(
    "/instances/{instance_id}/suspend",
    response=_responses({200: InstanceStateOut}, 400, 403, 404, 409, 422),
    summary="Suspend a running instance (instance administrators)",
    openapi_extra=REASON_BODY,
)
def instances_suspend(request: HttpRequest, instance_id: int) -> Any:
    return _change_state(request, instance_id, services.instance_suspend, admin_only=True)


@router.post(
    "/instances/{instance_id}/resume",
    response=_responses({200: InstanceStateOut}, 400, 403, 404, 409, 422),
    summary="Resume a suspended instance (instance administrators)",
    openapi_extra=REASON_BODY,
)
def instances_resume(request: HttpRequest, instance_id: int) -> Any:
    return _change_state(request, instance_id, services.instance_resume, admin_only=True)


@router.post(
    "/instances/{instance_id}/migrate",
    response=_responses({200: InstanceStateOut}, 403, 404, 409, 422),
    summary="Move a running instance to another version of its definition (instance administrators)",
)
def instances_migrate(request: HttpRequest, instance_id: int, payload: MigrateIn) -> Any:
    user = api_user(request)
    instance = _instance_for_admin(user, instance_id)
    try:
        version = selectors.definition_version_get(definition=instance.definition, number=payload.version)
    except FlowNotFound:
        raise _invalid("version", _("This process has no such version.")) from None
    try:
        _call(services.instance_migrate, actor=user, instance=instance, version=version)
    except DefinitionInvalid as exc:
        raise _problems_error(exc.problems) from None
    instance.refresh_from_db()
    return _instance_state(instance)


@router.post(
    "/incidents/{incident_id}/retry",
    response=_responses({200: IncidentRetryOut}, 403, 404, 409),
    summary="Retry what stopped an instance (instance administrators)",
)
def incidents_retry(request: HttpRequest, incident_id: int) -> Any:
    user = api_user(request)
    _require(user, PERM_ADMIN)
    incident = _call(selectors.incident_get, incident_id=incident_id)
    _call(services.incident_retry, actor=user, incident=incident)
    incident.refresh_from_db()
    instance = ProcessInstance.objects.select_related("version").get(pk=incident.instance_id)
    return {"id": incident.pk, "status": incident.status, "instance": _instance_state(instance)}


# --- tasks ----------------------------------------------------------------------------------------


@router.get(
    "/tasks",
    response=_responses({200: InboxOut}, 422),
    summary="The inboxes: todo 待办, done 已办, initiated 我发起的, cc 抄送我的",
    description="`todo`: open tasks assigned to the caller or claimable by them; `done`: tasks the "
    "caller completed. Items of these two boxes are tasks. `initiated` and `cc` list one item per "
    "instance (started by the caller / copied to them): the task fields (`id`, `name`, "
    "`task_definition_id`, `assignee`, `created_at`, `due_at`, `status`) describe the instance's "
    "first open task and are empty/null when the instance has none; `current_tasks` lists every "
    "open task; `instance_status` tells whether it is still running. `cc` items also carry "
    "`copied_at` and `copied_by`. `limit` ≤ 100.",
)
def tasks_list(request: HttpRequest, query: Query[InboxQuery]) -> Any:
    user = api_user(request)
    qs = _call(
        selectors.task_inbox,
        user=user,
        box=query.box,
        search=query.search,
        definition_key=query.definition_key,
    )
    return {"count": qs.count(), "items": _inbox_page(qs, query.offset, query.limit)}


@router.post(
    "/tasks/batch-approve",
    response=_responses({200: BatchApproveOut}, 403),
    summary="Approve many to-do tasks at once; each succeeds or fails on its own",
)
def tasks_batch_approve(request: HttpRequest, payload: BatchApproveIn) -> Any:
    user = api_user(request)
    task_ids = list(dict.fromkeys(payload.task_ids))
    results = _call(services.tasks_batch_approve, actor=user, task_ids=task_ids, comment=payload.comment)
    rows = []
    for result in results:
        zh, en = in_both(result.message) if result.message else ("", "")
        rows.append({"task_id": result.task_id, "ok": result.ok, "message": zh, "message_en": en})
    approved = sum(1 for r in rows if r["ok"])
    return {"approved": approved, "failed": len(rows) - approved, "results": rows}


@router.get(
    "/tasks/{task_id}",
    response=_responses({200: TaskDetailOut}, 404),
    summary="One task with what the caller may do and the steps it may be returned to",
)
def tasks_get(request: HttpRequest, task_id: int) -> Any:
    user = api_user(request)
    task = _call(selectors.task_get_for_user, user=user, task_id=task_id)
    out = _task_out(task)
    out["allowed_actions"] = _call(selectors.task_allowed_actions, user=user, task=task)
    out["instance_title"] = task.instance.title
    out["instance_status"] = task.instance.status
    targets = _call(selectors.return_targets, task=task) if task.status == TaskStatus.OPEN else []
    out["return_targets"] = [{"step_id": step, "name": name} for step, name in targets]
    out["form"] = _step_form_out(task)
    return out


ACTION_FIELDS = ("action", "comment", "to_user", "to_step", "position")


def _action_input(request: HttpRequest) -> tuple[TaskActionIn, list[UploadedFile]]:
    """The action from a JSON body, or from multipart form fields with files under ``attachments``
    (``variables`` then is a JSON text, ``to_users`` a repeated field)."""
    if request.content_type != "multipart/form-data":
        body = request.body
        try:
            return TaskActionIn.model_validate_json(body or b"{}"), []
        except PydanticValidationError as exc:
            if any(err["type"] == "json_invalid" for err in exc.errors()):
                errors = [translate_error({"type": "json_invalid", "loc": ("body",)})]
                raise http_error(400, MESSAGES["json_invalid"], errors=errors) from None
            raise _validation_error(exc, "body") from None
    if _content_length(request) > MAX_ACTION_UPLOAD:
        raise http_error(
            413,
            fmt(
                _("The attachments are too large (at most %(max)s MB in one request)."),
                {"max": MAX_ACTION_UPLOAD // (1024 * 1024)},
            ),
        )
    form = request.POST
    data: dict[str, Any] = {k: v for k, v in form.items() if k not in ("to_users", "variables", "form")}
    if "to_users" in form:
        data["to_users"] = form.getlist("to_users")
    for name in ("variables", "form"):
        if form.get(name):
            try:
                data[name] = json.loads(form[name])
            except ValueError:
                raise _invalid(name, _("Must be a JSON object (sent as text in the form).")) from None
    unexpected = sorted(set(request.FILES) - {"attachments"})
    if unexpected:
        raise _invalid(unexpected[0], _("Files go in the field “attachments”."))
    try:
        payload = TaskActionIn.model_validate(data)
    except PydanticValidationError as exc:
        raise _validation_error(exc, "form") from None
    return payload, request.FILES.getlist("attachments")


ACTION_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": TaskActionIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["action"],
                    "properties": {
                        **{name: {"type": "string"} for name in ACTION_FIELDS},
                        "variables": {"type": "string", "description": "a JSON object as text"},
                        "form": {
                            "type": "string",
                            "description": "the step's form data: a JSON object as text",
                        },
                        "to_users": {"type": "array", "items": {"type": "string"}},
                        "attachments": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "files kept with the comment: at most 10, 10 MB each; "
                            "PDF, PNG, JPG, DOCX, XLSX, DOC, XLS or UTF-8 TXT, checked by content",
                        },
                    },
                }
            },
        },
    }
}


@router.post(
    "/tasks/{task_id}/actions",
    response=_responses({200: TaskActionOut, 413: ErrorOut}, 400, 403, 404, 409, 422),
    summary="Act on a task: approve, reject, complete, return, withdraw, transfer, add_signer, "
    "claim, unclaim, urge, cc",
    description="`to_user` (a username) is required for transfer and add_signer (`position`: before, "
    "after or alongside); `to_step` names the completed step a return goes back to; `to_users` "
    "lists the usernames a cc goes to. 409 when someone else acted first or the instance is not "
    "running; 403 when the caller may not act on this task; 422 naming the field for bad input or "
    "an action this step does not allow. Send JSON, or multipart form fields with files under "
    "`attachments` to keep them with the comment.",
    openapi_extra=ACTION_BODY,
)
def tasks_act(request: HttpRequest, task_id: int) -> Any:
    user = api_user(request)
    payload, attachments = _action_input(request)
    if payload.action in {"transfer", "add_signer"} and not payload.to_user:
        raise _invalid("to_user", _("Say who should take the task (to_user)."))
    if payload.action == "cc" and not (payload.to_users or payload.to_user):
        raise _invalid("to_users", _("Say who should receive a copy (to_users)."))
    task = _call(selectors.task_get_for_user, user=user, task_id=task_id)
    recipients = payload.to_users or ([payload.to_user] if payload.to_user else [])
    acted = _call(
        services.task_act,
        actor=user,
        task=task,
        action=payload.action,
        variables=payload.variables,
        comment=payload.comment,
        to_user=payload.to_user if payload.action != "cc" else None,
        to_step=payload.to_step,
        position=payload.position,
        to_users=recipients if payload.action == "cc" else (),
        attachments=attachments,
        form_data=payload.form,
    )
    acted = HumanTask.objects.select_related(*TASK_RELATED, "instance__version").get(pk=acted.pk)
    return {"task": _task_out(acted), "instance": _instance_state(acted.instance)}


@router.get(
    "/attachments/{attachment_id}",
    response={200: None, **_responses({}, 404)},
    url_name="flow_attachment_download",
    summary="Download a file attached to a comment (for those who may see its instance)",
)
def attachments_download(request: HttpRequest, attachment_id: int) -> Any:
    user = api_user(request)
    attachment = _call(selectors.attachment_get_for_user, user=user, attachment_id=attachment_id)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise http_error(404, _("Not found.")) from None
    return attachment_response(handle, attachment)


# --- messages -------------------------------------------------------------------------------------


@router.post(
    "/messages",
    response=_responses({200: MessageOut}, 403, 404),
    summary="Send a message: wakes the instances waiting for it (by business key) or starts new ones",
)
def messages_send(request: HttpRequest, payload: MessageIn) -> Any:
    user = api_user(request)
    _require(user, PERM_MESSAGE)
    result = _call(
        services.message_correlate,
        actor=user,
        name=payload.name,
        business_key=payload.business_key,
        variables=payload.variables,
    )
    return {"correlated": [i.pk for i in result.correlated], "started": [i.pk for i in result.started]}
