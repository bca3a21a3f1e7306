"""公文流转 pages: the documents distributed to my department (阅文), one document to read with
its attachments and the button that marks it read for my department (the read receipt), and —
for the initiator, the approvers and those who may see the request — every recipient
department's receipt (who read it, when)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from medoa.core.errors import error_pages
from medoa.engines.forms.attachments import download_response

from .errors import ApprovalNotFound, ApprovalPermissionDenied
from .models_proc import DocumentReceipt
from .types import document

guarded = error_pages(not_found=ApprovalNotFound, denied=ApprovalPermissionDenied)


@login_required
@require_GET
def document_list(request: HttpRequest) -> HttpResponse:
    """``GET /approvals/documents/``"""
    rows = document.documents_for(user=request.user)
    return render(request, "approvals/document_list.html", {"rows": rows})


@login_required
@require_GET
@guarded
def document_read(request: HttpRequest, pk: int) -> HttpResponse:
    """``GET /approvals/documents/<pk>/``"""
    view = document.document_get(user=request.user, request_id=pk)
    attachments = document.attachments_of(view)
    return render(
        request,
        "approvals/document_read.html",
        {"view": view, "attachments": attachments, "unread": _unread(view.receipts)},
    )


def _unread(receipts: list[DocumentReceipt]) -> int:
    return sum(1 for r in receipts if r.read_at is None)


@login_required
@require_POST
@guarded
def document_mark_read(request: HttpRequest, pk: int) -> HttpResponse:
    """``POST /approvals/documents/<pk>/read/``"""
    document.document_mark_read(actor=request.user, request_id=pk)
    messages.success(request, _("Marked as read for your department."))
    return redirect("approvals:document_read", pk=pk)


@login_required
@require_GET
@guarded
def document_attachment(request: HttpRequest, pk: int, attachment_id: str) -> FileResponse:
    """``GET /approvals/documents/<pk>/files/<attachment_id>/``"""
    attachment = document.document_attachment_get(
        user=request.user, request_id=pk, attachment_id=attachment_id
    )
    return download_response(
        attachment.file.open("rb"), name=attachment.name, content_type=attachment.content_type
    )
