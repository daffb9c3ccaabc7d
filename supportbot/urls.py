from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from supportbot import metrics, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("orders.account_urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("orders/", include("orders.urls")),
    path("notifications/", include("orders.notification_urls")),
    path("chat/", include("chat.urls")),
    path("tickets/", include("tickets.urls")),
    path("help/", include("knowledge.urls")),
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include("chat.api_urls")),
    path("whatsapp/", include("whatsapp.urls")),
]
