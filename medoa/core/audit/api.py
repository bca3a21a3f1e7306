"""REST endpoints of the audit log (mounted at /api/v1/audit by medoa.api.api), audit_admin only.

* ``GET /api/v1/audit/entries`` — the viewer's filters as query parameters (``actor``, ``action``
  prefix, ``target_type``, ``target_id``, ``outcome``, ``time_from``, ``time_to``) and keyset paging
  (``before`` / ``after`` a sequence number; the answer's ``older`` / ``newer`` give the next ones);
* ``GET /api/v1/audit/entries/{seq}`` — one entry;
* ``GET /api/v1/audit/verify`` — walk the chain.

Every call is recorded in the log itself. Malformed filters answer 422 with per-field messages.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override
from ninja import Query, Router, Schema, Status

from .forms import EntryFilterForm
from .models import AuditEntry
from .selectors import audit_log_visible_to
from .services import audit_chain_check, audit_entry_open, audit_log_access_denied, audit_log_browse

router = Router(tags=["audit"])


class EntryQuery(Schema):
    """Text parameters: the shared filter form parses them, so the messages match the web page."""

    actor: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    outcome: str = ""
    time_from: str = ""
    time_to: str = ""
    before: str = ""
    after: str = ""


class EntryOut(Schema):
    seq: int
    at: datetime.datetime
    actor_id: int | None
    actor_name: str
    action: str
    target_type: str
    target_id: str
    target_repr: str
    client_address: str | None
    outcome: str
    details: dict[str, Any]
    prev_hash: str
    entry_hash: str


class EntryPageOut(Schema):
    items: list[EntryOut]
    newer: int | None
    older: int | None


class ChainCheckOut(Schema):
    ok: bool
    entries: int
    broken_seq: int | None
    reason: str
    reason_display: str


class FieldErrorOut(Schema):
    field: str
    message: str
    message_en: str
    type: str


class ErrorOut(Schema):
    detail: str
    detail_en: str


class ValidationErrorOut(ErrorOut):
    errors: list[FieldErrorOut]


def _both(render: Callable[[], str]) -> tuple[str, str]:
    """A message in Chinese and in English (the API's error shape carries both)."""
    with override("zh-hans"):
        zh = render()
    with override("en"):
        en = render()
    return zh, en


def _error(message: Any) -> dict[str, Any]:
    zh, en = _both(lambda: str(message))
    return {"detail": zh, "detail_en": en}


def _denied(request: HttpRequest) -> Status[dict[str, Any]]:
    audit_log_access_denied(user=request.user, path=request.path, via="api")
    return Status(403, _error(_("You may not view the audit log.")))


def _messages_of(error: ValidationError) -> str:
    return " ".join(str(m) for m in error.messages)


def _form_errors(form: EntryFilterForm) -> dict[str, Any]:
    errors = []
    for name, field_errors in form.errors.as_data().items():
        for error in field_errors:
            zh, en = _both(partial(_messages_of, error))
            errors.append({"field": name, "message": zh, "message_en": en, "type": error.code or "invalid"})
    return {**_error(_("The request is not valid.")), "errors": errors}


@router.get(
    "/entries",
    response={200: EntryPageOut, 403: ErrorOut, 422: ValidationErrorOut},
    summary="List audit entries (newest first, 50 per page)",
)
def entries_list(request: HttpRequest, query: Query[EntryQuery]) -> Any:
    if not audit_log_visible_to(request.user):
        return _denied(request)
    form = EntryFilterForm(data={k: v for k, v in query.dict().items() if v != ""})
    if not form.is_valid():
        return Status(422, _form_errors(form))
    page = audit_log_browse(
        viewer=request.user,
        filters=form.entry_filter(),
        before=form.cleaned_data.get("before"),
        after=form.cleaned_data.get("after"),
        via="api",
    )
    return Status(200, {"items": page.entries, "newer": page.newer_after, "older": page.older_before})


@router.get(
    "/entries/{seq}", response={200: EntryOut, 403: ErrorOut, 404: ErrorOut}, summary="One audit entry"
)
def entry_detail(request: HttpRequest, seq: int) -> Any:
    if not audit_log_visible_to(request.user):
        return _denied(request)
    entry: AuditEntry | None = audit_entry_open(viewer=request.user, seq=seq, via="api")
    if entry is None:
        return Status(404, _error(_("There is no audit entry with this number.")))
    return Status(200, entry)


@router.get("/verify", response={200: ChainCheckOut, 403: ErrorOut}, summary="Verify the audit hash chain")
def chain_verify(request: HttpRequest) -> Any:
    if not audit_log_visible_to(request.user):
        return _denied(request)
    result = audit_chain_check(viewer=request.user, via="api")
    return Status(
        200,
        {
            "ok": result.ok,
            "entries": result.entries,
            "broken_seq": result.broken_seq,
            "reason": result.reason_text,
            "reason_display": result.reason_display,
        },
    )
