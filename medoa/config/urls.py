"""The URL root: every app mounts its own urls module here; the API mounts under /api/v1/."""

from django.urls import include, path

from medoa.api.api import api
from medoa.integration.fhir import views as fhir_views
from medoa.web.views import set_language

urlpatterns = [
    path("", include("medoa.web.urls")),
    path("accounts/", include("medoa.core.access.urls")),
    path("org/", include("medoa.core.org.urls")),
    path("audit/", include("medoa.core.audit.urls")),
    path("flow/", include("medoa.engines.flow.urls")),
    path("forms/", include("medoa.engines.forms.urls")),
    path("rules/", include("medoa.engines.rules.urls")),
    path("reports/", include("medoa.engines.reports.urls")),
    path("events/", include("medoa.core.events.urls")),
    path("notifications/", include("medoa.core.notify.urls")),
    path("clinical/", include("medoa.core.clinical.urls")),
    path("integration/hl7/", include("medoa.integration.hl7.urls")),
    path("fhir/r4", fhir_views.receive),  # FHIR clients post a Bundle to the base without a slash
    path("fhir/r4/", include("medoa.integration.fhir.urls")),
    path("integration/webhooks/", include("medoa.integration.webhooks.urls")),
    path("approvals/", include("medoa.modules.approvals.urls")),
    path("roster/", include("medoa.modules.roster.urls")),
    path("resources/", include("medoa.modules.resources.urls")),
    path("quality/", include("medoa.modules.quality.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("api/v1/", api.urls),
]

handler400 = "medoa.web.views.bad_request"
handler403 = "medoa.web.views.permission_denied"
handler404 = "medoa.web.views.page_not_found"
handler500 = "medoa.web.views.server_error"
