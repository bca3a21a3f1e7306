"""The read-only clinical page: current inpatients by ward, initials only (mounted at /clinical/)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import selectors


@login_required
@require_GET
def inpatient_list(request: HttpRequest) -> HttpResponse:
    ward = request.GET.get("ward", "")[:32]
    census = selectors.inpatients_by_ward(user=request.user, ward=ward)
    total = sum(len(w.encounters) for w in census)
    return render(request, "clinical/inpatient_list.html", {"census": census, "ward": ward, "total": total})
