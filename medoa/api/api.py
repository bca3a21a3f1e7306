"""The REST API root: mounts each app's router; OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from medoa.core.access.api import router as access_router
from medoa.core.access.api_auth import BearerAuth
from medoa.core.audit.api import router as audit_router
from medoa.core.clinical.api import router as clinical_router
from medoa.core.events.api import router as events_router
from medoa.core.notify.api import router as notify_router
from medoa.core.org.api import router as org_router
from medoa.engines.flow.api import router as flow_router
from medoa.engines.forms.api import router as forms_router
from medoa.engines.reports.api import router as reports_router
from medoa.engines.rules.api import decisions_router, rules_router
from medoa.integration.hl7.api import router as hl7_router
from medoa.integration.webhooks.api import router as webhooks_router
from medoa.modules.approvals.api import router as approvals_router
from medoa.modules.quality.api import router as quality_router
from medoa.modules.resources.api import router as resources_router
from medoa.modules.roster.api import router as roster_router

from .errors import install_error_handlers

api = NinjaAPI(
    title="MedOA API",
    version="1",
    description="MedOA 医务办公系统 REST API. People authenticate with `Authorization: Bearer <token>` "
    "from `POST /api/v1/auth/token`.",
    auth=BearerAuth(),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_error_handlers(api)

api.add_router("/", access_router)
api.add_router("/", org_router)
api.add_router("/audit", audit_router)
api.add_router("/notifications", notify_router)
api.add_router("/flow", flow_router)
api.add_router("/forms", forms_router)
api.add_router("/events", events_router)
api.add_router("/rules", rules_router)
api.add_router("/decisions", decisions_router)
api.add_router("/reports", reports_router)
api.add_router("/clinical", clinical_router)
api.add_router("/integration", hl7_router)
api.add_router("/integration/webhooks", webhooks_router)
api.add_router("/approvals", approvals_router)
api.add_router("/roster", roster_router)
api.add_router("/resources", resources_router)
api.add_router("/quality", quality_router)

__all__ = ["AuthenticationError", "HttpError", "HttpRequest", "HttpResponse", "ValidationError", "api"]
