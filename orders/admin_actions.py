"""Admin actions that call services, hooked into the ModelAdmins of orders/admin.py.

Customers (data rights): export as JSON, erase — the services live in tickets.data_rights.
Export needs the change permission on customers and erasure the delete permission; in the
default groups only "Support lead" has them.

Orders: approve a requested exchange (orders.services.order_exchange_approve), resend the
return instructions email (orders.emails.send_return_instructions).
Variants: set the stock of each selected variant through orders.services.variant_set_stock,
the one place where back-in-stock alerts are triggered.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from orders import services
from orders.emails import send_return_instructions
from orders.models import Customer, Order, Variant
from supportbot.errors import ApplicationError
from tickets.data_rights import customer_anonymize, customer_data_export


@admin.action(description="Export all data about the selected customers (JSON)", permissions=["change"])
def export_customer_data(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Customer]
) -> HttpResponse:
    exports = [customer_data_export(customer_id=pk) for pk in queryset.values_list("pk", flat=True)]
    body = exports[0] if len(exports) == 1 else {"customers": exports}
    name = f"customer-{exports[0]['customer']['handle']}" if len(exports) == 1 else f"customers-{len(exports)}"
    response = HttpResponse(json.dumps(body, cls=DjangoJSONEncoder, indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{name}.json"'
    for customer in queryset:
        modeladmin.log_change(request, customer, "Exported customer data (data rights request).")
    return response


@admin.action(
    description="Erase the selected customers (conversations, tickets, PII; orders kept)", permissions=["delete"]
)
def anonymize_customers(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Customer]
) -> HttpResponse | None:
    if request.POST.get("confirm") != "yes":
        # Irreversible: show what will happen and ask once more, like "delete selected".
        return TemplateResponse(
            request,
            "admin/orders/customer/anonymize_confirmation.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": "Erase customers?",
                "customers": list(queryset),
                "opts": modeladmin.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )
    actor = request.user
    assert isinstance(actor, AbstractBaseUser)  # the admin site has required a staff login
    for customer in list(queryset):
        label = str(customer)
        try:
            report = customer_anonymize(customer_id=customer.pk, actor=actor)
        except ApplicationError as error:
            messages.error(request, f"{label}: {error.message}")
            continue
        deleted = sum(report.deleted.values())
        customer.refresh_from_db()  # the admin log must name the erased record, not the person
        modeladmin.log_change(
            request, customer, f"Erased (data rights): {deleted} rows deleted, {report.kept_orders} orders kept."
        )
        messages.success(
            request,
            f"{label} erased: {deleted} related rows deleted, {report.kept_orders} order(s) kept for accounting.",
        )
    return None


CUSTOMER_ACTIONS = [export_customer_data, anonymize_customers]


@admin.action(description="Approve exchange (swap the items, settle the price difference)", permissions=["change"])
def approve_exchange(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Order]) -> None:
    for order in queryset.order_by("pk"):
        try:
            services.order_exchange_approve(order_id=order.order_id, staff_user=request.user)
        except ApplicationError as error:
            messages.error(request, f"{order.order_id}: {error.message}")
            continue
        modeladmin.log_change(request, order, "Approved the exchange.")
        messages.success(request, f"{order.order_id}: exchange approved, the replacement items are being processed.")


@admin.action(description="Resend return instructions (return or exchange requested)", permissions=["change"])
def resend_return_instructions(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Order]) -> None:
    open_requests = (Order.Status.RETURN_REQUESTED, Order.Status.EXCHANGE_REQUESTED)
    for order in queryset.order_by("pk"):
        if order.status not in open_requests:
            messages.error(
                request,
                f"{order.order_id} is {order.status!r}: there are return instructions only for a requested return or exchange.",
            )
            continue
        # Queued on the email queue once the request's writes (the log entry) have committed.
        send_return_instructions(order.order_id)
        modeladmin.log_change(request, order, "Resent the return instructions email.")
        messages.success(request, f"{order.order_id}: return instructions sent again to {order.customer.email}.")


ORDER_ACTIONS = [approve_exchange, resend_return_instructions]


class SetStockForm(forms.Form):
    stock_quantity = forms.IntegerField(
        min_value=0, label="New stock quantity", help_text="Units on hand, zero or more."
    )


@admin.action(description="Set stock of the selected variants (customers waiting are notified)", permissions=["change"])
def set_stock(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Variant]) -> HttpResponse | None:
    form = SetStockForm(request.POST if "apply" in request.POST else None)
    if not form.is_valid():
        # First step (or a bad quantity): ask for the quantity, keeping the selection.
        return TemplateResponse(
            request,
            "admin/orders/variant/set_stock.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": "Set stock",
                "form": form,
                "variants": list(queryset.select_related("product")),
                "opts": modeladmin.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )
    quantity = form.cleaned_data["stock_quantity"]
    for variant in queryset.order_by("pk"):
        try:
            services.variant_set_stock(item_id=variant.item_id, stock_quantity=quantity)
        except ApplicationError as error:
            messages.error(request, f"{variant.item_id}: {error.message}")
            continue
        modeladmin.log_change(request, variant, f"Set stock from {variant.stock_quantity} to {quantity}.")
        messages.success(request, f"{variant.item_id}: stock set to {quantity}.")
    return None


VARIANT_ACTIONS = [set_stock]
