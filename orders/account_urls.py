from django.urls import path

from orders import views

urlpatterns = [path("signup/", views.signup, name="signup")]
