"""The site's URLs with PROC's approval pages added to the ``approvals`` namespace — for PROC's
view tests until ``urls.py`` includes ``urls_proc`` (then it changes nothing)."""

from __future__ import annotations

from django.urls import include, path

from medoa.config import urls as site
from medoa.modules.approvals import urls as approvals_urls
from medoa.modules.approvals import urls_proc

_names = {p.name for p in approvals_urls.urlpatterns}
_extra = [p for p in urls_proc.urlpatterns if p.name not in _names]

urlpatterns = [p for p in site.urlpatterns if not str(p.pattern).startswith("approvals/")] + [
    path("approvals/", include((approvals_urls.urlpatterns + _extra, "approvals"))),
]
