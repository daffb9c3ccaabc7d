from django.urls import path

from orders import views

app_name = "orders"
urlpatterns = [
    path("", views.my_orders, name="list"),
    path("products/", views.catalog, name="catalog"),
    path("products/<str:product_id>/", views.product_detail, name="product"),
    path("products/<str:product_id>/notify/<str:item_id>/", views.restock_toggle, name="restock"),
    path("<str:order_ref>/", views.order_detail, name="detail"),
]
