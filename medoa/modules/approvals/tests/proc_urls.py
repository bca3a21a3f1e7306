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

# The statistics router: through the site's API once the lead mounts it there, else through a
# test API at the same address.
from ninja import NinjaAPI  # noqa: E402

from medoa.api.errors import install_error_handlers  # noqa: E402
from medoa.core.access.api_auth import BearerAuth  # noqa: E402
from medoa.modules.approvals import api_stats  # noqa: E402

STATS_URL = "/api/v1/approvals/stats"
if getattr(api_stats.router, "api", None) is None:
    _api = NinjaAPI(auth=BearerAuth(), urls_namespace="approvals_proc_api", docs_url=None, openapi_url=None)
    install_error_handlers(_api)
    _api.add_router("/approvals", api_stats.router)
    urlpatterns.insert(0, path("api/v1/", _api.urls))
