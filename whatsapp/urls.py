from django.urls import path

from whatsapp import views

app_name = "whatsapp"

urlpatterns = [
    path("webhook", views.webhook, name="webhook"),
    path("numbers/", views.numbers, name="numbers"),
    path("numbers/<int:contact_id>/unlink", views.unlink, name="unlink"),
]
