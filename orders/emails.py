"""Customer emails of the store, sent through Django's email framework (text + HTML).

Plain functions taking ids, so a Celery task can wrap each one later; services call them
with `transaction.on_commit` so nothing is mailed about a change that was rolled back.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from orders.models import Order, Variant


def _send(*, to: str, subject: str, template: str, context: dict[str, object]) -> None:
    context = {**context, "site_url": settings.SITE_URL}
    text = render_to_string(f"orders/emails/{template}.txt", context)
    html = render_to_string(f"orders/emails/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
    message.attach_alternative(html, "text/html")
    message.send()


def send_return_instructions(order_id: str) -> bool:
    """Email how to send back the items of a requested return or exchange. False if nothing to send."""
    order = Order.objects.select_related("customer", "return_payment_method", "exchange_payment_method").filter(order_id=order_id).first()
    if order is None or order.status not in (Order.Status.RETURN_REQUESTED, Order.Status.EXCHANGE_REQUESTED):
        return False
    is_return = order.status == Order.Status.RETURN_REQUESTED
    item_ids = (order.return_items if is_return else order.exchange_items) or []
    names = {v.item_id: v for v in Variant.objects.select_related("product").filter(item_id__in=item_ids)}
    items = [names[item_id] for item_id in item_ids if item_id in names]
    new_ids = order.exchange_new_items or []
    new_variants = {v.item_id: v for v in Variant.objects.select_related("product").filter(item_id__in=new_ids)}
    kind = "return" if is_return else "exchange"
    _send(
        to=order.customer.email,
        subject=f"How to send back your {kind} for order {order.order_id}",
        template="return_instructions",
        context={
            "order": order,
            "customer": order.customer,
            "is_return": is_return,
            "items": items,
            "new_items": [new_variants[i] for i in new_ids if i in new_variants],
            "difference_abs": abs(order.exchange_price_difference or 0),
            "order_url": settings.SITE_URL + reverse("orders:detail", args=[order.order_id.lstrip("#")]),
        },
    )
    return True

