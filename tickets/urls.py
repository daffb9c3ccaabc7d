from django.urls import path

from tickets import views

app_name = "tickets"
urlpatterns = [
    path("", views.my_tickets, name="list"),
    path("<str:number>/", views.ticket_detail, name="detail"),
    path("<str:number>/reply/", views.ticket_reply, name="reply"),
    path("<str:number>/rate/", views.ticket_rate, name="rate"),
]
