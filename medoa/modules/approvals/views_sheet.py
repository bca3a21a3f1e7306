"""The printable approval sheet (审批单) of a request, as PDF: whoever may see the request may
print it (the initiator, everyone taking part in its process, and holders of
``approvals.request.view`` in their scope); anyone else gets 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from medoa.core.errors import error_pages

from .errors import ApprovalNotFound, ApprovalPermissionDenied
from .pdf import approval_sheet_pdf
from .selectors import request_get_for_user


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
