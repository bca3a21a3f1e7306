"""The approval centre's pages: the centre (catalog with search and my boxes), a box of requests
(mine / to-do with batch approval / done / copied to me), starting a request, the request page
(form data, the approval chain drawn out, comments with @mentions, one-tap approve / reject that
works on a phone), leave balances with the automatic delegation setting, and the holiday calendar.

Each view parses its input, checks permission (the services and selectors do), calls one service
or selector and renders; ``ApprovalNotFound`` → 404, ``ApprovalPermissionDenied`` → 403, other
refusals → a message beside the form.
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from medoa.core.access.policy import has_perm
from medoa.core.errors import error_pages
from medoa.core.org.models import Staff
from medoa.core.org.selectors import DIRECTORY_FIELDS, staff_directory
from medoa.engines.flow import selectors as flow_selectors
from medoa.engines.flow import services as flow_services
from medoa.engines.flow.errors import FlowError
from medoa.engines.forms import services as forms_services
from medoa.engines.forms.attachments import download_response
from medoa.engines.forms.errors import FormsError

from . import selectors, services
from .catalog import RequestType, ordered, request_types
from .choices import HolidayKind, LeaveType, RequestStatus
from .errors import (
    ApprovalConflict,
    ApprovalError,
    ApprovalInputError,
    ApprovalNotFound,
    ApprovalPermissionDenied,
)
from .models import ApprovalRequest
from .pdf import request_data_view
from .types.contract import contract_revisions
from .workdays import working_dates

pages = error_pages(not_found=ApprovalNotFound, denied=ApprovalPermissionDenied)

PAGE_SIZE = 20
DESIGN = "flow.definition.design"


def _box_labels() -> list[tuple[str, str]]:
    return [
        ("todo", _("To do")),
        ("mine", _("My requests")),
        ("done", _("Done")),
        ("cc", _("Copied to me")),
    ]


def _url_or_none(name: str, *args: Any) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _error_messages(request: HttpRequest, exc: ApprovalError) -> dict[str, str]:
    """The refusal as a message, and ``{field: message}`` to show beside the fields."""
    fields: dict[str, str] = {}
    for field, message in exc.errors:
        fields[(field or "").removeprefix("data.")] = str(message)
    if not fields:
        messages.error(request, str(exc.message))
    return fields


# --- the centre ----------------------------------------------------------------------------------


def _matches(request_type: RequestType, query: str) -> bool:
    if not query:
        return True
    text = " ".join(
        [
            str(request_type.name),
            str(request_type.category),
            str(request_type.description),
            *request_type.keywords,
        ]
    ).lower()
    return all(part in text for part in query.lower().split())


@login_required
@require_GET
def centre(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    installed = selectors.installed_process_keys()
    groups: dict[str, list[dict[str, Any]]] = {}
    missing = []
    for request_type in ordered():
        if request_type.process_key not in installed:
            missing.append(request_type)
            continue
        if _matches(request_type, query):
            groups.setdefault(str(request_type.category), []).append(
                {"type": request_type, "url": reverse("approvals:request_new", args=[request_type.key])}
            )
    context = {
        "query": query,
        "groups": list(groups.items()),
        "counts": selectors.counts(user=request.user),
        "boxes": _box_labels(),
        "missing": missing if has_perm(request.user, DESIGN) else [],
        "stats_url": reverse("approvals:stats") if has_perm(request.user, "approvals.stats.view") else None,
    }
    return render(request, "approvals/centre.html", context)


@login_required
@require_POST
@pages
def install(request: HttpRequest) -> HttpResponse:
    if not has_perm(request.user, DESIGN):
        raise ApprovalPermissionDenied()
    try:
        installed = services.models_install(actor=request.user)
    except ApprovalError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Installed: %(keys)s") % {"keys": ", ".join(installed) or "—"})
    return redirect("approvals:centre")


# --- the boxes -----------------------------------------------------------------------------------


@login_required
@require_GET
def box(request: HttpRequest, box: str) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:100]
    type_key = request.GET.get("type", "")
    status = request.GET.get("status", "")
    if status not in RequestStatus.values:
        status = ""
    qs = selectors.request_list(user=request.user, box=box, type_key=type_key, status=status, search=search)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    staff = selectors.staff_of(request.user)
    tasks = {}
    if box == "todo" and staff is not None:
        tasks = selectors.todo_tasks_for(
            staff=staff, instance_ids=[r.process_instance_id for r in rows if r.process_instance_id]
        )
    waiting = (
        selectors.open_tasks_by_instance([r.process_instance_id for r in rows if r.process_instance_id])
        if box != "todo"
        else {}
    )
    items = [
        {
            "request": r,
            "type_name": request_types.get(r.type_key).name if r.type_key in request_types else r.type_key,
            "task": tasks.get(r.process_instance_id) if r.process_instance_id else None,
            "current": [
                {
                    "name": t.name,
                    "people": [t.assignee.name] if t.assignee else [c.staff.name for c in t.candidates.all()],
                }
                for t in waiting.get(r.process_instance_id or 0, [])
            ],
        }
        for r in rows
    ]
    context = {
        "box": box,
        "boxes": _box_labels(),
        "items": items,
        "page": page,
        "search": search,
        "status": status,
        "statuses": RequestStatus.choices,
        "counts": selectors.counts(user=request.user),
    }
    return render(request, "approvals/request_list.html", context)


@login_required
@require_POST
def batch_approve(request: HttpRequest) -> HttpResponse:
    ids = []
    for value in request.POST.getlist("task_ids"):
        try:
            ids.append(int(value))
        except ValueError:
            continue
    if not ids:
        messages.error(request, _("Select at least one request."))
        return redirect("approvals:todo")
    try:
        results = flow_services.tasks_batch_approve(
            actor=request.user, task_ids=ids[:100], comment=request.POST.get("comment", "")[:2000]
        )
    except FlowError as exc:
        messages.error(request, str(exc.message))
        return redirect("approvals:todo")
    approved = sum(1 for r in results if r.ok)
    if approved:
        messages.success(request, _("%(count)d request(s) approved.") % {"count": approved})
    for result in results:
        if not result.ok:
            messages.error(request, str(result.message))
    return redirect("approvals:todo")


# --- starting a request --------------------------------------------------------------------------


def _upload(request: HttpRequest, name: str, errors: dict[str, str]) -> list[str]:
    ids = []
    for file in request.FILES.getlist(name)[:10]:
        try:
            ids.append(forms_services.attachment_upload(actor=request.user, file=file).pk)
        except FormsError as exc:
            errors[name] = str(exc.message)
    return ids


def _viewer_urls() -> dict[str, str]:
    """Where the form viewer's fields search people and departments and upload files (the form
    engine's endpoints)."""
    return {
        "staffSearchUrl": reverse("forms:staff_lookup"),
        "departmentSearchUrl": reverse("forms:department_lookup"),
        "uploadUrl": reverse("forms:attachment_upload"),
        "downloadUrl": reverse("forms:attachment_download", args=["TOKEN"]),
    }


def _json_errors(exc: ApprovalError) -> list[dict[str, str]]:
    """The refusal's errors with the form's data paths (``items.2.amount``, ``contract_file``);
    a refusal naming no field of the data has ``field`` "" (shown above the form)."""
    errors = []
    for field, message in exc.errors or [(exc.field or "", exc.message)]:
        name = field or ""
        name = "" if name in ("data", "type") else name.removeprefix("data.")
        errors.append({"field": name, "message": str(message)})
    return errors


def _submit_json(request: HttpRequest, request_type: RequestType) -> JsonResponse:
    """POST ``{"data", "version"}`` from the start form's page: the request's address, or the
    refusal with one error per field (the same ``data`` and checks as the API)."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        message = _("The request is not valid JSON.")
        return JsonResponse({"ok": False, "message": message, "errors": []}, status=400)
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        version = None
    try:
        created = services.request_submit(
            actor=request.user, type_key=request_type.key, data=body.get("data"), form_version=version
        )
    except ApprovalPermissionDenied as exc:
        return JsonResponse({"ok": False, "message": str(exc.message), "errors": []}, status=403)
    except ApprovalConflict as exc:
        return JsonResponse({"ok": False, "message": str(exc.message), "errors": []}, status=409)
    except ApprovalError as exc:
        return JsonResponse(
            {"ok": False, "message": str(exc.message), "errors": _json_errors(exc)}, status=400
        )
    messages.success(request, _("Submitted: %(number)s") % {"number": created.number})
    url = reverse("approvals:request_detail", args=[created.pk])
    return JsonResponse({"ok": True, "id": created.pk, "number": created.number, "url": url}, status=201)


def _applicant(request: HttpRequest) -> Staff | None:
    return selectors.staff_of(request.user)


@login_required
@pages
def request_new(request: HttpRequest, type_key: str) -> HttpResponse:
    """The start page of a request type: leave has its own page (days counted as the dates are
    picked, balances beside the type); every other type shows its start form in the form engine's
    viewer and posts its data as JSON (the API's ``data``)."""
    if type_key not in request_types:
        raise ApprovalNotFound()
    request_type = request_types.get(type_key)
    if type_key == "leave":
        return _leave_new(request, request_type)
    if request.method == "POST":
        return _submit_json(request, request_type)
    step_form = selectors.start_form(request_type.process_key)
    context: dict[str, Any] = {
        "type": request_type,
        "applicant": _applicant(request),
        "step_form": step_form,
        "form_urls": _viewer_urls(),
    }
    return render(request, "approvals/request_start.html", context, status=200 if step_form else 409)


def _leave_new(request: HttpRequest, request_type: RequestType) -> HttpResponse:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    if request.method == "POST":
        data: dict[str, Any] = {
            k: request.POST.get(k, "").strip()
            for k in ("leave_type", "start_date", "end_date", "reason")
            if request.POST.get(k, "").strip() or k == "reason"
        }
        attachments = _upload(request, "attachments", errors)
        if attachments:
            data["attachments"] = attachments
        values = {k: request.POST.get(k, "") for k in request.POST}
        if not errors:
            try:
                created = services.request_submit(actor=request.user, type_key="leave", data=data)
            except ApprovalError as exc:
                errors = _error_messages(request, exc)
            else:
                messages.success(request, _("Submitted: %(number)s") % {"number": created.number})
                return redirect("approvals:request_detail", pk=created.pk)
    staff = _applicant(request)
    balances = selectors.leave_balances(staff=staff) if staff is not None else []
    context: dict[str, Any] = {
        "type": request_type,
        "is_leave": True,
        "applicant": staff,
        "errors": errors,
        "values": values,
        "leave_types": LeaveType.choices,
        "balances": balances,
        "balance_texts": {row.leave_type: row for row in balances},
    }
    return render(request, "approvals/request_new.html", context)


# --- the request page ----------------------------------------------------------------------------


def _detail_context(request: HttpRequest, found: ApprovalRequest) -> dict[str, Any]:
    request_type = request_types.get(found.type_key) if found.type_key in request_types else None
    staff = selectors.staff_of(request.user)
    task = None
    actions: list[str] = []
    if staff is not None and found.process_instance_id is not None:
        task = selectors.todo_tasks_for(staff=staff, instance_ids=[found.process_instance_id]).get(
            found.process_instance_id
        )
        if task is not None:
            actions = flow_selectors.task_allowed_actions(user=request.user, task=task)
    leave = getattr(found, "leave", None) if found.type_key == "leave" else None
    is_initiator = staff is not None and staff.pk == found.initiator_id
    return {
        "req": found,
        "type": request_type,
        "data_view": request_data_view(found),
        "leave": leave,
        "chain": selectors.request_chain(found),
        "copies": selectors.request_copies(found),
        "comments": selectors.comment_list(found),
        "task": task,
        "actions": actions,
        "is_initiator": is_initiator,
        "may_withdraw": is_initiator and found.status == RequestStatus.SUBMITTED,
        "may_resume": leave is not None
        and found.status == RequestStatus.APPROVED
        and leave.resumed_on is None
        and (is_initiator or selectors.may_manage_balances(request.user)),
        "sheet_url": _url_or_none("approvals:request_sheet", found.pk),
        "files": selectors.request_files(found),
        "revisions": contract_revisions(found) if found.type_key == "contract" else [],
        "is_document": found.type_key == "document",
        "today": datetime.date.today().isoformat(),
    }


@login_required
@require_GET
@pages
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    found = selectors.request_get_for_user(user=request.user, request_id=pk)
    response = render(request, "approvals/request_detail.html", _detail_context(request, found))
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
@pages
def request_file(request: HttpRequest, pk: int, attachment_id: str) -> FileResponse:
    """One file of the request's form (an invoice, the seal document …) for whoever sees it."""
    attachment = selectors.request_file_get(user=request.user, request_id=pk, attachment_id=attachment_id)
    return download_response(
        attachment.file.open("rb"), name=attachment.name, content_type=attachment.content_type
    )


@login_required
@require_POST
@pages
def request_decide(request: HttpRequest, pk: int) -> HttpResponse:
    found = selectors.request_get_for_user(user=request.user, request_id=pk)
    action = request.POST.get("action", "")
    comment = request.POST.get("comment", "").strip()[:2000]
    if action not in ("approve", "reject"):
        messages.error(request, _("Choose approve or reject."))
        return redirect("approvals:request_detail", pk=pk)
    if action == "reject" and not comment:
        messages.error(request, _("Say why you reject it."))
        return redirect("approvals:request_detail", pk=pk)
    staff = selectors.staff_of(request.user)
    task = (
        selectors.todo_tasks_for(staff=staff, instance_ids=[found.process_instance_id]).get(
            found.process_instance_id
        )
        if staff is not None and found.process_instance_id
        else None
    )
    if task is None:
        messages.error(request, _("There is nothing for you to decide on this request."))
        return redirect("approvals:request_detail", pk=pk)
    try:
        flow_services.task_act(actor=request.user, task=task.pk, action=action, comment=comment)
    except FlowError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Approved.") if action == "approve" else _("Rejected."))
    return redirect("approvals:request_detail", pk=pk)


@login_required
@require_POST
@pages
def comment_add(request: HttpRequest, pk: int) -> HttpResponse:
    found = selectors.request_get_for_user(user=request.user, request_id=pk)
    try:
        services.comment_add(actor=request.user, request=found, text=request.POST.get("text", ""))
    except ApprovalInputError as exc:
        messages.error(request, str(exc.message))
    return redirect(f"{reverse('approvals:request_detail', args=[pk])}#comments")


@login_required
@require_POST
@pages
def request_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    found = selectors.request_get_for_user(user=request.user, request_id=pk)
    try:
        services.request_withdraw(
            actor=request.user, request=found, reason=request.POST.get("reason", "")[:200]
        )
    except ApprovalError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Withdrawn."))
    return redirect("approvals:request_detail", pk=pk)


@login_required
@require_POST
@pages
def leave_resume(request: HttpRequest, pk: int) -> HttpResponse:
    found = selectors.request_get_for_user(user=request.user, request_id=pk)
    try:
        day = datetime.date.fromisoformat(request.POST.get("resumed_on", ""))
    except ValueError:
        messages.error(request, _("Give the day you are back at work."))
        return redirect("approvals:request_detail", pk=pk)
    try:
        record = services.leave_resume(actor=request.user, request=found, resumed_on=day)
    except ApprovalError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(
            request,
            _("Leave cancelled: %(days)s day(s) returned to the balance.") % {"days": record.returned_days},
        )
    return redirect("approvals:request_detail", pk=pk)


@login_required
@require_GET
def working_days(request: HttpRequest) -> JsonResponse:
    """The working days between ``start`` and ``end`` (for the leave page, as it is filled in)."""
    try:
        start = datetime.date.fromisoformat(request.GET.get("start", ""))
        end = datetime.date.fromisoformat(request.GET.get("end", ""))
    except ValueError:
        return JsonResponse({"days": None}, status=422)
    if end < start or (end - start).days > 400:
        return JsonResponse({"days": None}, status=422)
    return JsonResponse({"days": len(working_dates(start, end))})


# --- leave balances and the automatic delegation --------------------------------------------------


@login_required
@require_GET
def balances(request: HttpRequest) -> HttpResponse:
    staff = selectors.staff_of(request.user)
    if staff is None:
        return render(request, "approvals/balances.html", {"rows": [], "staff": None})
    try:
        year = int(request.GET.get("year", "")) if request.GET.get("year") else datetime.date.today().year
    except ValueError:
        year = datetime.date.today().year
    context = {
        "staff": staff,
        "year": year,
        "rows": selectors.leave_balances(staff=staff, year=year),
        "ledger": selectors.ledger_of(staff=staff, year=year),
        "setting": selectors.auto_delegation_of(staff),
        "may_adjust": selectors.may_manage_balances(request.user),
        "colleagues": Staff.objects.filter(department=staff.department, status="active")
        .exclude(pk=staff.pk)
        .select_related("user")
        .order_by("name")[:200],
    }
    return render(request, "approvals/balances.html", context)


@login_required
@require_POST
def auto_delegation(request: HttpRequest) -> HttpResponse:
    username = request.POST.get("delegate", "").strip()
    delegate = None
    if username:
        delegate = Staff.objects.select_related("user").filter(user__username=username).first()
        if delegate is None:
            messages.error(request, _("No such person."))
            return redirect("approvals:balances")
    try:
        services.auto_delegation_set(actor=request.user, delegate=delegate)
    except ApprovalError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Saved."))
    return redirect("approvals:balances")


# --- 人事处: adjusting a person's balance ----------------------------------------------------------


def _staff_by_username(username: str) -> Staff | None:
    if not username:
        return None
    return (
        Staff.objects.select_related("user", "department")
        .filter(user__username=username[:150], status="active")
        .first()
    )


@login_required
@pages
def balance_adjust(request: HttpRequest) -> HttpResponse:
    """``/approvals/leave/adjust/?staff=<username>``: 人事处 (``approvals.balance.manage``) finds a
    person, sees their balances and ledger, and adds or takes away days with a reason (audited)."""
    if not selectors.may_manage_balances(request.user):
        raise ApprovalPermissionDenied()
    source = request.POST if request.method == "POST" else request.GET
    username = source.get("staff", "").strip()
    person = _staff_by_username(username)
    errors: dict[str, str] = {}
    values = {k: source.get(k, "") for k in ("leave_type", "year", "days", "note")}
    try:
        year = int(values["year"]) if values["year"] else datetime.date.today().year
    except ValueError:
        year = datetime.date.today().year
        errors["year"] = _("Give a year between 2000 and 2100.")
    if username and person is None:
        errors["staff"] = _("No such person.")
    if request.method == "POST" and person is not None and not errors:
        try:
            days = Decimal(values["days"].strip().replace("＋", "+").replace("－", "-"))
        except (InvalidOperation, ValueError):
            errors["days"] = _("Give a number of days other than 0 (at most one decimal).")
        else:
            try:
                services.balance_adjust(
                    actor=request.user,
                    staff=person,
                    leave_type=values["leave_type"],
                    year=year,
                    days=days,
                    note=values["note"],
                )
            except ApprovalError as exc:
                errors = _error_messages(request, exc)
            else:
                messages.success(
                    request,
                    _("%(name)s: %(type)s %(year)s changed by %(days)s day(s).")
                    % {
                        "name": person.name,
                        "type": LeaveType(values["leave_type"]).label,
                        "year": year,
                        "days": f"{days:+}",
                    },
                )
                return redirect(
                    f"{reverse('approvals:balance_adjust')}?staff={person.user.username}&year={year}"
                )
    rows = selectors.leave_balances(staff=person, year=year) if person is not None else []
    context = {
        "person": person,
        "username": username,
        "year": year,
        "rows": rows,
        "limited": [r for r in rows if r.entitled is not None],
        "ledger": selectors.ledger_of(staff=person, year=year) if person is not None else [],
        "errors": errors,
        "values": values,
    }
    return render(request, "approvals/balance_adjust.html", context, status=400 if errors else 200)


@login_required
@require_GET
def staff_lookup(request: HttpRequest) -> JsonResponse:
    """People matching ``q`` in the directory (name, phone, department), for @mentions and the
    balance page: ``{"results": [{"username", "name", "department"}]}``."""
    text = request.GET.get("q", "").strip()[:50]
    people = (
        staff_directory(user=request.user, search=text)
        .select_related("user")
        .only(*DIRECTORY_FIELDS, "user__id", "user__username")[:10]
        if text
        else []
    )
    results = [
        {"username": s.user.username, "name": s.name, "department": s.department.name_zh} for s in people
    ]
    return JsonResponse({"results": results})


# --- the holiday calendar ------------------------------------------------------------------------


@login_required
@pages
def holiday_list(request: HttpRequest) -> HttpResponse:
    if not selectors.may_manage_calendar(request.user):
        raise ApprovalPermissionDenied()
    try:
        year = int(request.GET.get("year", "")) if request.GET.get("year") else datetime.date.today().year
    except ValueError:
        year = datetime.date.today().year
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            day = datetime.date.fromisoformat(request.POST.get("date", ""))
        except ValueError:
            errors["date"] = _("Give a date (YYYY-MM-DD).")
        else:
            try:
                if request.POST.get("remove"):
                    services.holiday_remove(actor=request.user, day=day)
                else:
                    services.holiday_set(
                        actor=request.user,
                        day=day,
                        kind=request.POST.get("kind", ""),
                        name=request.POST.get("name", ""),
                    )
            except ApprovalError as exc:
                errors = _error_messages(request, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect(f"{reverse('approvals:holiday_list')}?year={day.year}")
    context = {
        "year": year,
        "years": [year - 1, year, year + 1],
        "holidays": selectors.holiday_list(year=year),
        "kinds": HolidayKind.choices,
        "errors": errors,
    }
    return render(request, "approvals/holiday_list.html", context)
