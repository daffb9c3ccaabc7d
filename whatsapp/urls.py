from django.urls import path

from whatsapp import views

app_name = "whatsapp"

urlpatterns = [
    path("webhook", views.webhook, name="webhook"),
]
