"""Pages of the approval centre (placeholder while the pages are written)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse


def _todo(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


centre = box = request_new = request_detail = request_decide = comment_add = request_withdraw = _todo
leave_resume = batch_approve = balances = auto_delegation = holiday_list = install = _todo
