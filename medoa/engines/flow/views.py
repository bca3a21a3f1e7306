"""The process engine's pages: definitions and the designer, starting a process, the inboxes, the
task and instance pages with the diagram, and instance administration.

Each view parses its input (forms.py), checks permission, calls one service or selector and
renders. Service errors map to pages the same way everywhere: ``FlowNotFound`` → 404,
``FlowPermissionDenied`` → 403, ``FlowConflict`` → a message and the task reloaded,
``FlowInputError`` → the message beside its field.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from medoa.core.access.policy import has_perm, principal_of
from medoa.core.errors import error_pages
from medoa.core.org.models import Staff
from medoa.core.org.selectors import staff_directory
from medoa.engines.forms.process_link import schema_of
from medoa.engines.forms.views import _names_for, _viewer_urls

from . import form_link, selectors, services
from .attachments import attachment_response
from .choices import InstanceStatus, TaskStatus
from .errors import FlowConflict, FlowError, FlowInputError, FlowNotFound, FlowPermissionDenied
from .forms import (
    BOXES,
    INBOX_PAGE_SIZE,
    SORTS,
    VARIABLE_TYPES,
    AdminActionForm,
    AdminFilterForm,
    BatchApproveForm,
    CancelForm,
    DesignerNewForm,
    DiagramForm,
    FormStartForm,
    InboxFilterForm,
    StaffSearchForm,
    StartForm,
    TaskActionForm,
    VariableRow,
    process_id_for,
)
from .models import (
    HumanTask,
    ProcessEvent,
    ProcessInstance,
)
from .spiff import DefinitionInvalid

DESIGN = "flow.definition.design"
ADMIN = "flow.instance.admin"
START = "flow.start"

# Actions after which the task is no longer the actor's: go back to the inbox.
# The task page shows approve, reject and complete in one form.
ACTION_GROUPS = {"approve": "decide", "reject": "decide", "complete": "decide"}
FINISHING_ACTIONS = {"approve", "reject", "complete", "return", "transfer", "withdraw"}
# The inbox sort choices as the selector's ``order`` names ("created_at" is when an item arrived
# in the box); started and copied items have no due time and keep the newest first.
SORT_ORDER = {
    "todo": {"newest": "-created_at", "oldest": "created_at", "due": "due_at"},
    "done": {"newest": "-created_at", "oldest": "created_at", "due": "due_at"},
    "initiated": {"newest": "-created_at", "oldest": "created_at", "due": "-created_at"},
    "cc": {"newest": "-created_at", "oldest": "created_at", "due": "-created_at"},
}

# the services' not-found and permission errors as 404 and 403 pages
_flow_errors = error_pages(not_found=FlowNotFound, denied=FlowPermissionDenied)


def _require(request: HttpRequest, code: str) -> None:
    if not has_perm(request.user, code):
        raise PermissionDenied


def _staff(request: HttpRequest) -> Staff | None:
    principal = principal_of(request.user)
    return principal.staff if principal is not None else None


def _json_problems(problems: list[dict[str, Any]], status: int = 400) -> JsonResponse:
    return JsonResponse({"ok": False, "problems": problems}, status=status)


def _form_problems(form: Any) -> list[dict[str, Any]]:
    return [
        {"message": f"{form.fields[name].label if name in form.fields else ''}: {error}".lstrip(": ")}
        for name, errors in form.errors.items()
        for error in errors
    ]


def _int_or_404(raw: str | None) -> int:
    if raw is None or not raw.isdigit() or int(raw) >= 2**31:
        raise Http404
    return int(raw)


# --- definitions ---------------------------------------------------------------------------------------


@login_required
@require_GET
def definition_list(request: HttpRequest) -> HttpResponse:
    # the running count and the deployer's name come with the list (one query)
    definitions = selectors.definition_list(user=request.user, running_counts=True)
    context = {
        "definitions": definitions,
        "drafts": selectors.draft_list(user=request.user),
        "may_design": has_perm(request.user, DESIGN),
        "may_start": has_perm(request.user, START),
    }
    return render(request, "flow/definition_list.html", context)


@login_required
@require_GET
@_flow_errors
def definition_versions(request: HttpRequest, key: str) -> HttpResponse:
    _require(request, DESIGN)
    definition = selectors.definition_get(key=key)
    versions = selectors.definition_versions(definition=definition)
    return render(request, "flow/definition_versions.html", {"definition": definition, "versions": versions})


@login_required
@require_GET
@_flow_errors
def definition_xml(request: HttpRequest, key: str) -> HttpResponse:
    """Download the BPMN XML of the latest version (``?version=N`` for another one)."""
    _require(request, DESIGN)
    definition = selectors.definition_get(key=key)
    raw_version = request.GET.get("version")
    number = None if raw_version is None else _int_or_404(raw_version)
    version = selectors.definition_version_get(definition=definition, number=number)
    response = HttpResponse(version.bpmn_xml, content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{definition.key}-v{version.version}.bpmn"'
    return response


# --- designer ------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def designer_new(request: HttpRequest) -> HttpResponse:
    """Name a new process; its draft starts from a small template (start → user task → end)."""
    _require(request, DESIGN)
    form = DesignerNewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key = form.cleaned_data["key"]
        name = form.cleaned_data["name"]
        if selectors.definition_key_taken(key=key):
            form.add_error("key", _("A process with this key already exists: open it from the list."))
        else:
            xml = render_to_string("flow/new_diagram.bpmn", {"process_id": process_id_for(key), "name": name})
            try:
                services.draft_save(actor=request.user, key=key, xml=xml, name=name)
            except FlowInputError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            else:
                url = reverse("flow:designer", args=[key])
                category = form.cleaned_data["category"]
                return redirect(f"{url}?{urlencode({'category': category})}" if category else url)
    return render(request, "flow/designer_new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_GET
@_flow_errors
def designer(request: HttpRequest, key: str) -> HttpResponse:
    _require(request, DESIGN)
    state = selectors.designer_get(key=key)
    context = {
        "key": key,
        "name": state.name,
        "category": request.GET.get("category", state.category)[:64],
        "definition": state.definition,
        "draft": state.draft if state.opens_draft else None,
        "older_draft": state.draft if state.draft_is_older else None,
    }
    return render(request, "flow/designer.html", context)


@login_required
@require_GET
@_flow_errors
def designer_xml(request: HttpRequest, key: str) -> HttpResponse:
    """The XML the designer opens: the draft, else (or when the draft is older than it) the latest
    deployed version."""
    _require(request, DESIGN)
    return HttpResponse(selectors.designer_get(key=key).xml, content_type="application/xml; charset=utf-8")


@login_required
@require_POST
@_flow_errors
def designer_save(request: HttpRequest) -> JsonResponse:
    _require(request, DESIGN)
    form = DiagramForm(request.POST)
    if not form.is_valid():
        return _json_problems(_form_problems(form))
    try:
        draft = services.draft_save(
            actor=request.user,
            key=form.cleaned_data["key"],
            xml=form.cleaned_data["xml"],
            name=form.cleaned_data["name"],
        )
    except FlowInputError as exc:
        return _json_problems([{"message": str(exc)}])
    return JsonResponse(
        {
            "ok": True,
            "message": _("Draft saved."),
            "saved_at": draft.updated_at.isoformat(),
            "designer_url": reverse("flow:designer", args=[draft.key]),
        }
    )


@login_required
@require_POST
@_flow_errors
def designer_deploy(request: HttpRequest) -> JsonResponse:
    _require(request, DESIGN)
    form = DiagramForm(request.POST)
    if not form.is_valid():
        return _json_problems(_form_problems(form))
    try:
        version = services.definition_deploy(
            actor=request.user,
            xml=form.cleaned_data["xml"],
            key=form.cleaned_data["key"],
            name=form.cleaned_data["name"] or None,
            category=form.cleaned_data["category"],
        )
    except DefinitionInvalid as exc:
        return _json_problems(
            [
                {
                    "message": str(p.message),
                    "element_id": p.element_id,
                    "element_type": p.element_type,
                    "line": p.line,
                }
                for p in exc.problems
            ]
        )
    except FlowInputError as exc:
        return _json_problems([{"message": str(exc)}])
    return JsonResponse(
        {
            "ok": True,
            "key": version.definition.key,
            "version": version.version,
            "message": _("Version %(version)d of %(name)s deployed.")
            % {"version": version.version, "name": version.name or version.definition.name},
            "definitions_url": reverse("flow:definition_list"),
        }
    )


# --- starting ------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@_flow_errors
def instance_start(request: HttpRequest, key: str) -> HttpResponse:
    """GET: the start page (the start form when the start event binds a MedOA form, else the
    variables editor). POST: form fields (variables), or JSON ``{"title", "business_key", "data",
    "version"}`` from the start form's page (answered in JSON: the instance's address, or the
    errors per field)."""
    _require(request, START)
    definition = selectors.definition_get(key=key)
    if definition.latest_version is None or not definition.is_active:
        raise Http404
    start_view = form_link.start_view(selectors.parsed_version(definition.latest_version))
    if request.method == "POST" and request.content_type == "application/json":
        return _start_with_form(request, key, definition.name)
    form = StartForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                instance = services.instance_start(
                    actor=request.user,
                    definition_key=key,
                    variables=form.variables,
                    business_key=form.cleaned_data["business_key"],
                    title=form.cleaned_data["title"],
                )
            except FlowInputError as exc:
                _attach_start_error(form, exc)
            except FlowConflict as exc:  # e.g. the start form was switched off meanwhile
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("%(name)s started.") % {"name": definition.name})
                return redirect("flow:instance_detail", pk=instance.pk)
        status = 400
    context: dict[str, Any] = {"definition": definition, "form": form, "types": VARIABLE_TYPES}
    if start_view is not None:
        context.update(step_form=start_view, form_urls=_viewer_urls())
    return render(request, "flow/instance_start.html", context, status=status)


def _form_errors_json(exc: FlowError) -> list[dict[str, str]]:
    if isinstance(exc, services.FormInvalid):
        return [{"field": f, "code": code, "message": str(text)} for f, code, text in exc.field_errors]
    return [
        {
            "field": (field or "").removeprefix("form").removeprefix("."),
            "code": "invalid",
            "message": str(text),
        }
        for field, text in (exc.errors or [("", exc.message)])
    ]


def _start_with_form(request: HttpRequest, key: str, name: str) -> JsonResponse:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        message = _("The request is not valid JSON.")
        return JsonResponse({"ok": False, "message": message, "errors": []}, status=400)
    form = FormStartForm(body)
    if not form.is_valid():
        errors = [
            {"field": f"@{field}", "code": "invalid", "message": str(e)}
            for field, messages_ in form.errors.items()
            for e in messages_
        ]
        return JsonResponse(
            {"ok": False, "message": _("Correct the marked fields."), "errors": errors}, status=400
        )
    try:
        instance = services.instance_start(
            actor=request.user,
            definition_key=key,
            variables={},
            business_key=form.cleaned_data["business_key"] or "",
            title=form.cleaned_data["title"] or "",
            form_data=form.form_data if isinstance(form.form_data, dict) else {},
            form_version=form.cleaned_data["version"],
        )
    except FlowConflict as exc:
        return JsonResponse({"ok": False, "message": str(exc), "errors": []}, status=409)
    except FlowInputError as exc:
        errors = _form_errors_json(exc)
        if exc.field in ("title", "business_key"):
            errors = [{"field": f"@{exc.field}", "code": "invalid", "message": str(exc)}]
        return JsonResponse({"ok": False, "message": str(exc), "errors": errors}, status=400)
    messages.success(request, _("%(name)s started.") % {"name": name})
    url = reverse("flow:instance_detail", args=[instance.pk])
    return JsonResponse({"ok": True, "instance": instance.pk, "url": url}, status=201)


def _attach_start_error(form: StartForm, exc: FlowInputError) -> None:
    """Put a service's complaint beside the field or variable it names."""
    if exc.field in form.fields:
        form.add_error(exc.field, str(exc))
        return
    name = (exc.field or "").removeprefix("variables.")
    for row in form.rows:
        if name and row.name == name:
            row.errors.append(str(exc))
            return
    form.add_error(None, str(exc))


@login_required
@require_GET
def start_variable_row(request: HttpRequest) -> HttpResponse:
    """One more empty row of the variables editor (htmx)."""
    return render(request, "flow/_variable_row.html", {"row": VariableRow(), "types": VARIABLE_TYPES})


# --- inboxes -------------------------------------------------------------------------------------------


@login_required
@require_GET
def task_list(request: HttpRequest) -> HttpResponse:
    processes = [(d.key, d.name) for d in selectors.definition_list(user=request.user)]
    form = InboxFilterForm(request.GET, processes=processes)
    counts = selectors.inbox_counts(user=request.user)
    if not form.is_valid():
        context = {"form": form, "box": "todo", "counts": counts, "page": None, "boxes": BOXES}
        return render(request, "flow/task_list.html", context, status=400)
    box = form.cleaned_data["box"]
    items = selectors.task_inbox(
        user=request.user,
        box=box,
        search=form.cleaned_data["q"],
        definition_key=form.cleaned_data["process"],
        order=SORT_ORDER[box][form.cleaned_data["sort"]],
    )
    page = Paginator(items, INBOX_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "box": box,
        "boxes": BOXES,
        "counts": counts,
        "page": page,
        "sorts": SORTS,
    }
    return render(request, "flow/task_list.html", context)


@login_required
@require_POST
def task_batch_approve(request: HttpRequest) -> HttpResponse:
    form = BatchApproveForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect(f"{reverse('flow:task_list')}?box=todo")
    results = services.tasks_batch_approve(
        actor=request.user, task_ids=form.cleaned_data["task_ids"], comment=form.cleaned_data["comment"]
    )
    approved = sum(1 for r in results if r.ok)
    if approved:
        messages.success(request, _("%(count)d task(s) approved.") % {"count": approved})
    for result in results:
        if not result.ok:
            messages.error(
                request, _("Task %(id)d: %(message)s") % {"id": result.task_id, "message": result.message}
            )
    return redirect(f"{reverse('flow:task_list')}?box=todo")


# --- task page -----------------------------------------------------------------------------------------


def _task_context(
    request: HttpRequest,
    task: HumanTask,
    form: TaskActionForm | None = None,
    form_errors: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    instance = task.instance
    actions = selectors.task_allowed_actions(user=request.user, task=task)
    failed = str(form.data.get("action", "")) if form is not None else ""
    parsed = selectors.parsed_version(instance.version)
    variables = form_link.visible_variables(
        parsed=parsed, variables=instance.variables or {}, step_id=task.task_def_id
    )
    context: dict[str, Any] = {
        "task": task,
        "instance": instance,
        "actions": actions,
        "return_targets": selectors.return_targets(task=task) if "return" in actions else [],
        "history": _with_durations(selectors.instance_history(instance=instance)),
        "variables": _variable_rows(variables),
        "form": form or TaskActionForm(),
        "failed_group": ACTION_GROUPS.get(failed, failed),
        "diagram_url": reverse("flow:instance_diagram", args=[instance.pk]),
    }
    view = (
        form_link.task_view(
            parsed=parsed,
            step_id=task.task_def_id,
            instance_id=instance.pk,
            variables=instance.variables or {},
        )
        if form_link.medoa_form_key(task.form_key)
        else None
    )
    if view is not None:
        data = view.data
        if form_errors is not None and form is not None:
            # what the person sent, again (without what this step hides)
            sent = form.cleaned_data.get("form_data") if hasattr(form, "cleaned_data") else None
            if isinstance(sent, dict):
                data = form_link.without_paths(sent, form_link.hidden_paths(parsed, [task.task_def_id]))
        editable = task.status == TaskStatus.OPEN and bool({"approve", "reject", "complete"} & set(actions))
        context.update(
            step_form=view,
            step_form_data=data,
            step_form_mode="task" if editable else "read",
            step_form_errors=form_errors or [],
            step_form_names=_names_for(view_fields(view), data, request.user),
            form_urls=_viewer_urls(),
        )
    return context


def view_fields(view: form_link.StepView) -> list[Any]:
    return schema_of(view.version).input_fields()


def _with_durations(events: list[ProcessEvent]) -> list[ProcessEvent]:
    """Give each history entry a readable ``duration_text`` ("2 h 5 min")."""
    for event in events:
        seconds = event.duration_seconds
        text = ""
        if seconds is not None:
            days, rest = divmod(seconds, 86400)
            hours, rest = divmod(rest, 3600)
            minutes = rest // 60
            if days:
                text = _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
            elif hours:
                text = _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
            elif minutes:
                text = _("%(minutes)d min") % {"minutes": minutes}
            else:
                text = _("under a minute")
        event.duration_text = text  # type: ignore[attr-defined]
    return events


def _visible_variables(request: HttpRequest, instance: ProcessInstance) -> list[tuple[str, str]]:
    """The instance's variables this viewer may see (hidden form fields only for the initiator
    and instance administrators)."""
    staff = _staff(request)
    sees_all = (staff is not None and instance.initiator_id == staff.pk) or has_perm(request.user, ADMIN)
    variables = form_link.visible_variables(
        parsed=selectors.parsed_version(instance.version),
        variables=instance.variables or {},
        sees_all=sees_all,
    )
    return _variable_rows(variables)


def _variable_rows(variables: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for name, value in sorted(variables.items()):
        if name.startswith("_"):
            continue
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        rows.append((name, shown))
    return rows


@login_required
@require_GET
@_flow_errors
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    task = selectors.task_get_for_user(user=request.user, task_id=pk)
    return render(request, "flow/task_detail.html", _task_context(request, task))


@login_required
@require_POST
@_flow_errors
def task_act(request: HttpRequest, pk: int) -> HttpResponse:
    task = selectors.task_get_for_user(user=request.user, task_id=pk)
    form = TaskActionForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "flow/task_detail.html", _task_context(request, task, form), status=400)
    data = form.cleaned_data
    action = data["action"]
    try:
        services.task_act(
            actor=request.user,
            task=task,
            action=action,
            comment=data["comment"],
            to_user=data["to_user"] or None,
            to_step=data["to_step"] or None,
            position=data["position"] or None,
            attachments=data["attachments"],
            form_data=data["form_data"] if action in ACTION_GROUPS else None,
        )
    except FlowConflict as exc:
        messages.error(request, str(exc))
        return redirect("flow:task_detail", pk=task.pk)
    except services.FormInvalid as exc:
        form.add_error(None, str(exc))
        context = _task_context(request, task, form, form_errors=_form_errors_json(exc))
        return render(request, "flow/task_detail.html", context, status=400)
    except FlowInputError as exc:
        for field, message in exc.errors or [("", exc.message)]:
            form.add_error(field if field in form.fields else None, str(message))
        return render(request, "flow/task_detail.html", _task_context(request, task, form), status=400)
    messages.success(request, _action_done_message(action, task))
    if action in FINISHING_ACTIONS:
        return redirect(f"{reverse('flow:task_list')}?box=todo")
    return redirect("flow:task_detail", pk=task.pk)


def _action_done_message(action: str, task: HumanTask) -> str:
    texts = {
        "approve": _("Approved: %(task)s."),
        "reject": _("Rejected: %(task)s."),
        "complete": _("Completed: %(task)s."),
        "return": _("Returned: %(task)s."),
        "withdraw": _("Withdrawn: %(task)s."),
        "transfer": _("Transferred: %(task)s."),
        "add_signer": _("Signer added to %(task)s."),
        "claim": _("You claimed %(task)s."),
        "unclaim": _("You released %(task)s."),
        "urge": _("The assignees of %(task)s were reminded."),
        "cc": _("%(task)s was copied."),
    }
    return texts[action] % {"task": task.name}


@login_required
@require_GET
def staff_search(request: HttpRequest) -> HttpResponse:
    """Options for the person picker (htmx): active staff matching the text typed into the field
    named by ``field`` (``q`` by default), by name, username or employee number."""
    field = request.GET.get("field", "q")
    if field not in ("q", "to_user"):
        field = "q"
    form = StaffSearchForm({"q": request.GET.get(field, "")})
    text = form.cleaned_data["q"].strip() if form.is_valid() else ""
    people: list[Staff] = []
    if text:
        people = list(
            staff_directory(user=request.user)
            .filter(
                Q(name__icontains=text) | Q(user__username__istartswith=text) | Q(employee_no__iexact=text)
            )
            .select_related("user", "department")
            .only(
                "pk", "name", "employee_no", "department__name_zh", "department__name_en", "user__username"
            )[:15]
        )
    return render(request, "flow/_staff_options.html", {"people": people})


# --- instances -----------------------------------------------------------------------------------------


@login_required
@require_GET
@_flow_errors
def instance_detail(request: HttpRequest, pk: int) -> HttpResponse:
    instance = selectors.instance_get_for_user(user=request.user, instance_id=pk)
    staff = _staff(request)
    is_initiator = staff is not None and instance.initiator_id == staff.pk
    context = {
        "instance": instance,
        "is_initiator": is_initiator,
        "history": _with_durations(selectors.instance_history(instance=instance)),
        "variables": _visible_variables(request, instance),
        "open_tasks": selectors.instance_active_tasks(instance=instance),
        "may_cancel": is_initiator and instance.status in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED),
        "cancel_form": CancelForm(),
        "diagram_url": reverse("flow:instance_diagram", args=[instance.pk]),
    }
    return render(request, "flow/instance_detail.html", context)


@login_required
@require_POST
@_flow_errors
def instance_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    instance = selectors.instance_get_for_user(user=request.user, instance_id=pk)
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The reason is too long."))
        return redirect("flow:instance_detail", pk=instance.pk)
    try:
        services.instance_cancel(actor=request.user, instance=instance, reason=form.cleaned_data["reason"])
    except (FlowConflict, FlowInputError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The process was cancelled."))
    return redirect("flow:instance_detail", pk=instance.pk)


@login_required
@require_GET
@_flow_errors
def instance_diagram(request: HttpRequest, pk: int) -> JsonResponse:
    """The viewer's data: the BPMN XML of the instance's version and the step ids to colour."""
    instance = selectors.instance_get_for_user(user=request.user, instance_id=pk)
    state = selectors.diagram_state(instance=instance)
    return JsonResponse(
        {
            "xml": instance.version.bpmn_xml,
            "done": list(state.get("done", [])),
            "active": list(state.get("active", [])),
            "waiting": list(state.get("waiting", [])),
            "flows": list(state.get("flows", [])),
        }
    )


@login_required
@require_GET
@_flow_errors
def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    # only for those who may see its instance (FlowNotFound → 404 otherwise)
    attachment = selectors.attachment_get_for_user(user=request.user, attachment_id=pk)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    return attachment_response(handle, attachment)


# --- administration ------------------------------------------------------------------------------------


@login_required
@require_GET
def admin_instance_list(request: HttpRequest) -> HttpResponse:
    _require(request, ADMIN)
    processes = [(d.key, d.name) for d in selectors.definition_list(user=request.user)]
    form = AdminFilterForm(request.GET, processes=processes)
    page = None
    if form.is_valid():
        incident = form.cleaned_data["incident"]
        instances = selectors.instance_list_for_admin(
            user=request.user,
            definition_key=form.cleaned_data["definition"],
            status=form.cleaned_data["status"],
            incident={"yes": True, "no": False}.get(incident),
        )
        page = Paginator(instances, 50).get_page(request.GET.get("page"))
    context = {"form": form, "page": page}
    return render(request, "flow/admin_instance_list.html", context, status=200 if page is not None else 400)


def _back_to_admin(request: HttpRequest) -> HttpResponse:
    back = request.POST.get("next", "")
    if back.startswith("?") and "\n" not in back and "\r" not in back:
        return redirect(reverse("flow:admin_instance_list") + back)
    return redirect("flow:admin_instance_list")


@login_required
@require_POST
@_flow_errors
def admin_instance_action(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, ADMIN)
    instance = selectors.instance_get_for_user(user=request.user, instance_id=pk)
    form = AdminActionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return _back_to_admin(request)
    action = form.cleaned_data["action"]
    try:
        if action == "cancel":
            services.instance_cancel(
                actor=request.user, instance=instance, reason=form.cleaned_data["reason"]
            )
        elif action == "suspend":
            services.instance_suspend(actor=request.user, instance=instance)
        elif action == "resume":
            services.instance_resume(actor=request.user, instance=instance)
        else:
            try:
                target = selectors.definition_version_get(
                    definition=instance.definition, number=form.cleaned_data["version"]
                )
            except FlowNotFound:
                raise FlowInputError(_("There is no such version."), field="version") from None
            services.instance_migrate(actor=request.user, instance=instance, version=target)
    except DefinitionInvalid as exc:
        messages.error(
            request,
            _("Instance %(id)d cannot be migrated: %(reason)s")
            % {"id": instance.pk, "reason": "; ".join(str(p.message) for p in exc.problems)},
        )
    except FlowError as exc:
        messages.error(request, _("Instance %(id)d: %(message)s") % {"id": instance.pk, "message": str(exc)})
    else:
        done = {
            "cancel": _("Instance %(id)d cancelled."),
            "suspend": _("Instance %(id)d suspended."),
            "resume": _("Instance %(id)d resumed."),
            "migrate": _("Instance %(id)d migrated."),
        }
        messages.success(request, done[action] % {"id": instance.pk})
    return _back_to_admin(request)


@login_required
@require_POST
@_flow_errors
def admin_incident_retry(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, ADMIN)
    incident = selectors.incident_get(incident_id=pk)
    try:
        services.incident_retry(actor=request.user, incident=incident)
    except FlowError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The step is being retried."))
    return _back_to_admin(request)
