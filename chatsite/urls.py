from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path

from chat import api, health, metrics_view

urlpatterns = [
    # Probes for load balancers and orchestrators: no login, no session, JSON (chat/health.py, docs/operations.md).
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Prometheus: behind METRICS_TOKEN and/or METRICS_ALLOW_FROM, 404 when neither is set (docs/operations.md).
    path("metrics", metrics_view.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include((api.urlpatterns(), "api-v1"), namespace="api-v1")),
    # Swagger UI sets inline styles; its scripts still come from this site only.
    path("api/docs/", csp_update({"style-src": ["'unsafe-inline'"]})(api.docs), name="api-docs"),
    path("", include("chat.urls")),
]
