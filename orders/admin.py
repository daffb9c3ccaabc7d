from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from knowledge.services import product_document_sync_enqueue
from orders import services
from orders.admin_actions import CUSTOMER_ACTIONS, ORDER_ACTIONS, VARIANT_ACTIONS
from orders.models import (
    Cart,
    CartItem,
    Customer,
    Fulfillment,
    Order,
    OrderItem,
    PaymentMethod,
    PaymentTransaction,
    Product,
    RestockSubscription,
    SelfServiceRefund,
    Variant,
)
from supportbot.errors import ApplicationError


class PaymentMethodInline(admin.TabularInline):
    model = PaymentMethod
    extra = 0
    fields = ("payment_method_id", "source", "brand", "last_four", "balance")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("handle", "first_name", "last_name", "email", "city", "created_at")
    search_fields = ("handle", "first_name", "last_name", "email", "zip")
    raw_id_fields = ("user",)
    inlines = [PaymentMethodInline]
    actions = CUSTOMER_ACTIONS  # data rights: export as JSON, erase (orders/admin_actions.py)


@admin.register(PaymentMethod)
class PaymentMethodAdmin(admin.ModelAdmin):
    list_display = ("payment_method_id", "source", "customer", "brand", "last_four", "balance")
    list_filter = ("source",)
    search_fields = ("payment_method_id", "customer__handle")
    raw_id_fields = ("customer",)


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = ("item_id", "options", "price", "stock_quantity", "active")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "product_id", "product_type")
    list_filter = ("product_type",)
    search_fields = ("name", "product_id")
    inlines = [VariantInline]

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:  # type: ignore[no-untyped-def]
        super().save_related(request, form, formsets, change)
        # The assistant's catalog search reads the product's knowledge document: refresh it
        # (name, type, options, prices, description) once the edit has committed.
        product_document_sync_enqueue(product_id=form.instance.product_id)


@admin.register(Variant)
class VariantAdmin(admin.ModelAdmin):
    list_display = ("item_id", "product", "options_label", "price", "stock_quantity", "active")
    list_filter = ("active", "product__product_type")
    search_fields = ("item_id", "product__name")
    list_select_related = ("product",)
    readonly_fields = ("stock_quantity",)
    actions = ["restock_ten", *VARIANT_ACTIONS]

    @admin.action(description="Add 10 units of stock (customers waiting are notified)")
    def restock_ten(self, request: HttpRequest, queryset: QuerySet[Variant]) -> None:
        # Through the service, so stock changes are locked and back-in-stock subscriptions close.
        for variant in queryset:
            services.variant_set_stock(item_id=variant.item_id, stock_quantity=variant.stock_quantity + 10)
        self.message_user(request, f"Restocked {queryset.count()} variant(s).", messages.SUCCESS)


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    fields = ("name", "variant", "price", "options")
    readonly_fields = fields
    can_delete = False


class FulfillmentInline(admin.TabularInline):
    model = Fulfillment
    extra = 0
    fields = ("tracking_ids", "carrier", "item_ids", "tracking_status")


class PaymentTransactionInline(admin.TabularInline):
    model = PaymentTransaction
    extra = 0
    fields = ("transaction_type", "amount", "payment_method", "created_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("order_id", "customer", "status", "created_at", "return_received_at")
    list_filter = ("status",)
    search_fields = ("order_id", "customer__handle", "customer__email")
    list_select_related = ("customer",)
    raw_id_fields = ("customer", "return_payment_method", "exchange_payment_method")
    # Status and money fields move only through services; the admin shows them.
    readonly_fields = (
        "status",
        "cancel_reason",
        "return_items",
        "return_payment_method",
        "return_received_at",
        "exchange_items",
        "exchange_new_items",
        "exchange_payment_method",
        "exchange_price_difference",
    )
    inlines = [OrderItemInline, FulfillmentInline, PaymentTransactionInline]
    actions = ["mark_return_received", *ORDER_ACTIONS]

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:  # type: ignore[no-untyped-def]
        if formset.model is not Fulfillment:
            super().save_formset(request, form, formset, change)
            return
        # A tracking status change goes through the service, which emails the customer once it
        # commits; the inline saves everything else and keeps the status it had.
        wanted = []
        for inline_form in formset.forms:
            if "tracking_status" in inline_form.changed_data and inline_form not in formset.deleted_forms:
                wanted.append((inline_form, inline_form.cleaned_data["tracking_status"]))
                inline_form.instance.tracking_status = inline_form.initial.get("tracking_status", "")
        super().save_formset(request, form, formset, change)
        for inline_form, status in wanted:
            services.fulfillment_set_tracking_status(fulfillment_id=inline_form.instance.pk, status=status)

    @admin.action(description="Mark return received and issue the refund")
    def mark_return_received(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        for order in queryset:
            try:
                services.order_return_receive(order_id=order.order_id)
            except ApplicationError as error:
                self.message_user(request, f"{order.order_id}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{order.order_id}: return received, refund issued.", messages.SUCCESS)


@admin.register(RestockSubscription)
class RestockSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("customer", "variant", "status", "created_at", "notified_at")
    list_filter = ("status",)
    raw_id_fields = ("customer", "variant")


class CartItemInline(admin.TabularInline):
    model = CartItem
    extra = 0
    raw_id_fields = ("variant",)


@admin.register(Cart)
class CartAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "status", "updated_at", "reminder_sent_at")
    list_filter = ("status",)
    raw_id_fields = ("customer",)
    inlines = [CartItemInline]


@admin.register(SelfServiceRefund)
class SelfServiceRefundAdmin(admin.ModelAdmin):
    list_display = ("customer", "order", "kind", "created_at")
    list_filter = ("kind",)
    raw_id_fields = ("customer", "order")
