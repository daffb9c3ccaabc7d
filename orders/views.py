from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_ratelimit.core import is_ratelimited

from orders import selectors, services
from orders.emails import QueuedPasswordResetForm
from orders.forms import SignUpForm
from orders.models import Order, OrderItem, PaymentMethod
from orders.services import customer_sign_up
from supportbot.errors import ApplicationError, NotFound
from supportbot.htmx import HtmxHttpRequest

SIGNUP_RATE_LIMITED = "Too many sign-ups from your connection. Please wait a while, then try again."
RESET_LINK_RATE_LIMITED = (
    "Too many password-reset requests. If you asked for a link already, please look for it in your inbox "
    "(and spam folder); otherwise wait a while, then try again."
)


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("chat:index")
    # Every POST counts, invalid ones too: "an account with this email exists" answers a question.
    if request.method == "POST" and is_ratelimited(
        request, group="accounts.signup", key="ip", rate=settings.SIGNUP_RATE_LIMIT, increment=True
    ):
        messages.error(request, SIGNUP_RATE_LIMITED)
        typed = {name: request.POST.get(name, "") for name in ("first_name", "last_name", "email")}
        return render(request, "registration/signup.html", {"form": SignUpForm(initial=typed)}, status=429)
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        customer = customer_sign_up(
            email=form.cleaned_data["email"],
            first_name=form.cleaned_data["first_name"],
            last_name=form.cleaned_data["last_name"],
            password=form.cleaned_data["password1"],
        )
        login(request, customer.user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("chat:index")
    return render(request, "registration/signup.html", {"form": form})


def _reset_email(group: str, request: HttpRequest) -> str:
    return " ".join(request.POST.get("email", "").split()).lower()


def password_reset_throttled(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """PASSWORD_RESET_RATE_LIMIT on the reset form's POSTs, per client IP and per email address.

    Per IP so one client can't mail the whole customer list; per address so many clients
    can't flood one inbox. A refused request sends nothing and says so, whether or not the
    address has an account (the form never tells).
    """

    @wraps(view)
    def throttled(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "POST":
            rate = settings.PASSWORD_RESET_RATE_LIMIT
            by_ip = is_ratelimited(request, group="accounts.password_reset.ip", key="ip", rate=rate, increment=True)
            by_email = is_ratelimited(
                request, group="accounts.password_reset.email", key=_reset_email, rate=rate, increment=True
            )
            if by_ip or by_email:
                messages.error(request, RESET_LINK_RATE_LIMITED)
                form = QueuedPasswordResetForm(initial={"email": request.POST.get("email", "")})
                return render(request, "registration/password_reset_form.html", {"form": form}, status=429)
        return view(request, *args, **kwargs)

    return throttled


@login_required
def my_orders(request: HttpRequest) -> HttpResponse:
    customer = selectors.customer_for_user(request.user)
    orders = list(selectors.orders_for_customer(customer)) if customer else []
    restock_notes = selectors.restock_notes_unseen(customer=customer) if customer else []
    if customer and restock_notes:
        # Shown once: the note is the portal side of the back-in-stock email.
        services.restock_notes_mark_seen(customer=customer, note_ids=[note.pk for note in restock_notes])
    return render(request, "orders/my_orders.html", {"orders": orders, "restock_notes": restock_notes})


@login_required
def order_detail(request: HttpRequest, order_ref: str) -> HttpResponse:
    customer = selectors.customer_for_user(request.user)
    if customer is None:
        raise Http404("No such order.")
    try:
        # The URL carries the id without its "#". Someone else's order is a plain 404.
        order = selectors.order_for_page(customer=customer, order_id=f"#{order_ref}")
    except NotFound:
        raise Http404("No such order.") from None
    context = {
        "order": order,
        "return_lines": _requested_items(order, order.return_items or []),
        "exchange_lines": _exchange_lines(order),
        "exchange_money": _difference_words(order.exchange_price_difference, order.exchange_payment_method),
    }
    return render(request, "orders/order_detail.html", context)


@dataclass(frozen=True)
class ItemLine:
    """An item of a return or exchange as the customer knows it: name, options, price (no ids)."""

    name: str
    options: str
    price: Decimal | None
    new_options: str = ""
    new_price: Decimal | None = None


def _options_words(options: Any) -> str:
    return ", ".join(f"{key}: {value}" for key, value in options.items()) if isinstance(options, dict) else ""


def _requested_items(order: Order, item_ids: list[str]) -> list[ItemLine]:
    """The order's items named by `item_ids` (an id repeats once per unit), from the prefetched items."""
    units: dict[str, list[OrderItem]] = {}
    for unit in order.items.all():
        units.setdefault(unit.variant.item_id, []).append(unit)
    lines = []
    for item_id in item_ids:
        held = units.get(item_id) or []
        # Each unit once; a repeated id beyond the units held still names the item.
        item: OrderItem | None = held.pop(0) if len(held) > 1 else (held[0] if held else None)
        if item is None:
            lines.append(ItemLine(name="An item no longer in this order", options="", price=None))
        else:
            lines.append(ItemLine(name=item.name, options=_options_words(item.options), price=item.price))
    return lines


def _exchange_lines(order: Order) -> list[ItemLine]:
    old = _requested_items(order, order.exchange_items or [])
    lines = []
    for line, new_id in zip(old, order.exchange_new_items or [], strict=False):
        variant = selectors.variant_with_product(new_id)
        if variant is None:
            lines.append(line)
            continue
        lines.append(
            ItemLine(
                name=line.name,
                options=line.options,
                price=line.price,
                new_options=variant.options_label,
                new_price=variant.price,
            )
        )
    return lines


def _difference_words(difference: Decimal | None, method: PaymentMethod | None) -> str:
    """ "refund of $5.95 to Visa ending 4242" rather than "price difference $-5.95"."""
    where = f" to {method.label}" if method is not None else ""
    if difference is None or difference == 0:
        return "no price difference"
    if difference < 0:
        return f"a refund of ${-difference:.2f}{where}"
    return f"a charge of ${difference:.2f}{where}"


def product_detail(request: HttpRequest, product_id: str) -> HttpResponse:
    try:
        product = selectors.product_for_page(product_id=product_id)
    except NotFound:
        raise Http404("No such product.") from None
    customer = selectors.customer_for_user(request.user)
    waiting = selectors.restock_item_ids_for(customer=customer, product=product) if customer else set()
    return render(request, "orders/product_detail.html", {"product": product, "waiting": waiting, "customer": customer})


def catalog(request: HttpRequest) -> HttpResponse:
    return render(request, "orders/catalog.html", {"products": selectors.products_for_catalog()})


@require_POST
@login_required
def restock_toggle(request: HtmxHttpRequest, product_id: str, item_id: str) -> HttpResponse:
    """Subscribe to or stop a back-in-stock notice. htmx swaps the variant row; without JS, redirect."""
    customer = selectors.customer_for_user(request.user)
    if customer is None:
        raise Http404("No store profile.")
    try:
        product = selectors.product_for_page(product_id=product_id)
    except NotFound:
        raise Http404("No such product.") from None
    variant = next((v for v in product.variants.all() if v.item_id == item_id), None)
    if variant is None:
        raise Http404("No such item.")
    error = notice = ""
    try:
        if request.POST.get("action") == "subscribe":
            services.restock_subscription_create(customer=customer, item_id=item_id)
            notice = "We'll email you when it's back in stock."
        else:
            services.restock_subscription_cancel(customer=customer, item_id=item_id)
            notice = "You won't be notified about this item."
    except ApplicationError as exc:
        error = exc.message
    if request.htmx:
        waiting = selectors.restock_item_ids_for(customer=customer, product=product)
        context = {
            "product": product,
            "variant": variant,
            "waiting": waiting,
            "customer": customer,
            "notice": notice,
            "error": error,
        }
        return render(request, "orders/product_detail.html#variant-row", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("orders:product", product_id=product.product_id)
