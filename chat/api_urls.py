from django.urls import path

from chat import api

app_name = "chat_api"
urlpatterns = [
    path("chat/message", api.message, name="message"),
    path("chat/history/<int:conversation_id>", api.history, name="history"),
    path("chat/feedback", api.feedback, name="feedback"),
    path("chat/actions/<int:action_id>/confirm", api.action_confirm, name="action-confirm"),
    path("chat/actions/<int:action_id>/decline", api.action_decline, name="action-decline"),
    path("chat/analytics", api.analytics, name="analytics"),
]
