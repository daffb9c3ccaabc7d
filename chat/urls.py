from django.urls import path

from chat import views

app_name = "chat"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:conversation_id>/", views.conversation_detail, name="conversation"),
    path("send/", views.send, name="send"),
    path("stream/<str:token>/", views.stream, name="stream"),
    path("widget/", views.widget, name="widget"),
    path("actions/<int:action_id>/confirm/", views.action_decide, {"decision": "confirm"}, name="action_confirm"),
    path("actions/<int:action_id>/decline/", views.action_decide, {"decision": "decline"}, name="action_decline"),
    path("messages/<int:message_id>/feedback/", views.feedback, name="feedback"),
    path("restock/<str:item_id>/", views.restock_subscribe, name="restock"),
]
