from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from orders.emails import QueuedPasswordResetForm
from orders.views import password_reset_throttled
from supportbot import metrics, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("orders.account_urls")),
    # Before django.contrib.auth.urls: the reset email goes through the email queue (retries, backoff).
    path(
        "accounts/password_reset/",
        password_reset_throttled(auth_views.PasswordResetView.as_view(form_class=QueuedPasswordResetForm)),
        name="password_reset",
    ),
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
