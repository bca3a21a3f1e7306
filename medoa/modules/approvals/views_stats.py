"""The statistics page of the approval centre (/approvals/stats/): cycle time per request type
and per step (median, 90th percentile), requests pending by department, and the overdue steps.

Permission ``approvals.stats.view``: the dean, vice deans, 医务处 and 人事处 see the whole hospital,
a department head their department and the departments below it; anyone else 403.
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from . import stats
from .api_stats import period
from .catalog import ordered


def duration_text(seconds: float | None) -> str:
    """3天4小时, 5小时20分, 12分 (in the active language); "—" for none."""
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return str(_("%(days)sd %(hours)sh")) % {"days": days, "hours": hours}
    if hours:
        return str(_("%(hours)sh %(minutes)sm")) % {"hours": hours, "minutes": minutes}
    return str(_("%(minutes)sm")) % {"minutes": minutes}


class StatsFilter(forms.Form):
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    type = forms.ChoiceField(label=_("Type"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        type_field = self.fields["type"]
        assert isinstance(type_field, forms.ChoiceField)
        type_field.choices = [("", _("All types")), *((t.key, t.name) for t in ordered())]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", _("The end date is before the start date."))
        return data


def _durations(d: stats.Durations) -> dict[str, Any]:
    return {"count": d.count, "median": duration_text(d.median), "p90": duration_text(d.p90)}


@login_required
@require_GET
def stats_page(request: HttpRequest) -> HttpResponse:
    if not stats.may_view_stats(request.user):
        raise PermissionDenied
    form = StatsFilter(request.GET or None)
    since: datetime.date | None = None
    until: datetime.date | None = None
    type_key = ""
    if form.is_bound and form.is_valid():
        since, until, type_key = (
            form.cleaned_data["since"],
            form.cleaned_data["until"],
            form.cleaned_data["type"],
        )
    start, end = period(since, until)
    overview = stats.stats_overview(user=request.user, since=start, until=end, type_key=type_key)
    context = {
        "form": form,
        "overview": overview,
        "cycle_times": [{"row": c, **_durations(c.seconds)} for c in overview.cycle_times],
        "step_times": [{"row": s, **_durations(s.seconds)} for s in overview.step_times],
        "overdue": [{"row": o, "late": duration_text(o.overdue_seconds)} for o in overview.overdue],
        "period_end": end - datetime.timedelta(seconds=1),
    }
    return render(request, "approvals/stats.html", context)
