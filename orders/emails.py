"""Customer emails of the store, sent through Django's email framework (text + HTML).

Every one goes through the email queue (orders.tasks), queued once the change that caused it
commits, so nothing is mailed about a change that was rolled back, a refused or unreachable
mail server is retried with exponential backoff, and a web request never waits on SMTP. The
`*_email_send` functions here are what the tasks run: they take ids and re-read everything.

Delivery is at least once: these messages carry no ledger (unlike restock alerts and cart
reminders), so a worker killed between the server's "250 accepted" and the task's ack may send
one again. A second copy of return instructions or of a reset link misleads no one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from orders.models import Order, PaymentTransaction, Variant
from supportbot.celery import app
from supportbot.services import task_enqueue_on_commit

# Queued by name: orders.tasks imports the `*_email_send` functions these tasks run.
RETURN_INSTRUCTIONS_TASK = "orders.send_return_instructions"
PASSWORD_RESET_TASK = "orders.send_password_reset"  # noqa: S105 - a task name, not a password
CANCELLATION_TASK = "orders.send_cancellation_notice"


def _send(*, to: str, subject: str, template: str, context: dict[str, object]) -> None:
    context = {**context, "site_url": settings.SITE_URL}
    text = render_to_string(f"orders/emails/{template}.txt", context)
    html = render_to_string(f"orders/emails/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
    message.attach_alternative(html, "text/html")
    message.send()


def send_return_instructions(order_id: str) -> None:
    """Queue the return-instructions email of `order_id` (email queue) for when the transaction commits."""
    task_enqueue_on_commit(app.signature(RETURN_INSTRUCTIONS_TASK), order_id)


def return_instructions_email_send(*, order_id: str) -> bool:
    """Email how to send back the items of a requested return or exchange. False if nothing to send."""
    order = (
        Order.objects.select_related("customer", "return_payment_method", "exchange_payment_method")
        .filter(order_id=order_id)
        .first()
    )
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


def send_cancellation_notice(order_id: str) -> None:
    """Queue the cancellation email of `order_id` (email queue) for when the transaction commits."""
    task_enqueue_on_commit(app.signature(CANCELLATION_TASK), order_id)


def cancellation_email_send(*, order_id: str) -> bool:
    """Email that the order is cancelled: its items and each refund with where and when. False if not cancelled."""
    order = Order.objects.select_related("customer").filter(order_id=order_id).first()
    if order is None or order.status != Order.Status.CANCELLED:
        return False
    refunds = [
        {
            "amount": entry.amount,
            "method": entry.payment_method.label,
            "when": "right away" if entry.payment_method.is_gift_card else "within 5–7 business days",
        }
        for entry in order.payments.select_related("payment_method").filter(
            transaction_type=PaymentTransaction.Type.REFUND
        )
    ]
    _send(
        to=order.customer.email,
        subject=f"Your order {order.order_id} is cancelled",
        template="cancellation",
        context={
            "order": order,
            "customer": order.customer,
            "items": list(order.items.all()),
            "refunds": refunds,
            "order_url": settings.SITE_URL + reverse("orders:detail", args=[order.order_id.lstrip("#")]),
        },
    )
    return True


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's password-reset form, with the email sent by the email queue instead of in the request.

    Only the user's id and the request's site details are queued; the link's token is made by the
    worker (`password_reset_email_send`). A queued rendered message would carry a live reset link
    into the broker and, if sending failed for good, into the FailedTask admin, where any staff
    member could use it to take over the account.
    """

    def save(self, **kwargs: Any) -> None:  # type: ignore[override]
        """Send links to SITE_URL: the request's Host header is the client's to choose, and a
        forged one would mail the customer a genuine token on a link to someone else's site."""
        site = urlsplit(settings.SITE_URL)
        super().save(**{**kwargs, "domain_override": site.netloc + site.path, "use_https": site.scheme == "https"})

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        task_enqueue_on_commit(
            app.signature(PASSWORD_RESET_TASK),
            user_id=context["user"].pk,
            to_email=to_email,
            domain=context["domain"],
            site_name=context["site_name"],
            protocol=context["protocol"],
        )


def password_reset_email_send(*, user_id: int, to_email: str, domain: str, site_name: str, protocol: str) -> bool:
    """Email a password-reset link to `to_email`. False when the account may no longer reset by it.

    The same checks as PasswordResetForm.get_users, made again at send time: the account could
    have been deactivated, or its email changed, since the request.
    """
    user = get_user_model()._default_manager.filter(pk=user_id, is_active=True).first()
    if user is None or not user.has_usable_password():
        return False
    if (getattr(user, user.get_email_field_name(), "") or "").lower() != to_email.lower():
        return False
    context = {
        "email": to_email,
        "domain": domain,
        "site_name": site_name,
        "protocol": protocol,
        "user": user,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
    }
    subject = "".join(render_to_string("registration/password_reset_subject.txt", context).splitlines())
    body = render_to_string("registration/password_reset_email.html", context)
    EmailMultiAlternatives(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[to_email]).send()
    return True
