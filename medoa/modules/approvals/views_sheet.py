"""The printable approval sheet (审批单) of a request, as PDF, and the kept revisions of a contract
request's file: whoever may see the request (the initiator, everyone taking part in its process,
and holders of ``approvals.request.view`` in their scope); anyone else gets 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from medoa.core.errors import error_pages
from medoa.engines.forms.attachments import download_response

from .errors import ApprovalNotFound, ApprovalPermissionDenied
from .pdf import approval_sheet_pdf
from .selectors import request_get_for_user
from .types.contract import contract_revision_get


@login_required
@require_GET
@error_pages(not_found=ApprovalNotFound, denied=ApprovalPermissionDenied)
def request_sheet(request: HttpRequest, pk: int) -> HttpResponse:
    """``GET /approvals/requests/<pk>/sheet.pdf``"""
    approval = request_get_for_user(user=request.user, request_id=pk)
    response = HttpResponse(approval_sheet_pdf(approval), content_type="application/pdf")
    filename = f"{approval.number or approval.pk}.pdf"
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
@error_pages(not_found=ApprovalNotFound, denied=ApprovalPermissionDenied)
def contract_revision_file(request: HttpRequest, pk: int, number: int) -> FileResponse:
    """``GET /approvals/requests/<pk>/contract/<number>/`` — revision ``number`` of the contract file."""
    approval = request_get_for_user(user=request.user, request_id=pk)
    attachment = contract_revision_get(approval, number).attachment
    return download_response(
        attachment.file.open("rb"), name=attachment.name, content_type=attachment.content_type
    )
