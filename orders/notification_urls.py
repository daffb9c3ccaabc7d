from django.urls import path

from orders import notification_views

app_name = "notifications"
urlpatterns = [
    path("unsubscribe/<str:token>/", notification_views.unsubscribe, name="unsubscribe"),
    path("cart/<str:token>/", notification_views.cart_restore_view, name="cart_restore"),
]
