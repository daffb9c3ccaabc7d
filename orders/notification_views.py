"""Pages behind the signed links in customer emails: one-click unsubscribe and cart restore.

The signed token in the URL is the credential (the customer may be signed out when they click);
views only read it and call one service.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from orders.models import CartItem, Customer, EmailOptOut
from orders.notifications import cart_restore, email_opt_out_create, read_unsubscribe_token
from supportbot.errors import ApplicationError, InvalidInput, NotFound


def _invalid_link(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    return render(request, "orders/notifications/link_invalid.html", {"message": error.message}, status=400)


# Exempt from CSRF: RFC 8058 one-click unsubscribe is a POST from the mail client, which has
# no CSRF cookie. It is safe because only the holder of the signed token can make this request.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks for confirmation (link scanners prefetch GETs); POST opts out."""
    try:
        wanted = read_unsubscribe_token(token)
    except InvalidInput as error:
        return _invalid_link(request, error)
    kind_label = EmailOptOut.Kind(wanted.kind).label.lower()
    if request.method == "GET":
        return render(request, "orders/notifications/unsubscribe.html", {"kind_label": kind_label})
    try:
        email_opt_out_create(customer_id=wanted.customer_id, kind=wanted.kind)
    except NotFound as error:
        return _invalid_link(request, error)
    return render(request, "orders/notifications/unsubscribed.html", {"kind_label": kind_label})


@require_http_methods(["GET"])
def cart_restore_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        cart = cart_restore(token=token)
    except InvalidInput as error:
        return _invalid_link(request, error)
    except NotFound as error:
        return render(request, "orders/notifications/link_invalid.html", {"message": error.message}, status=404)
    # A signed-in customer only ever sees their own cart, even through someone else's link.
    if request.user.is_authenticated:
        own = Customer.objects.filter(user=request.user).values_list("pk", flat=True).first()
        if own != cart.customer_id:
            raise Http404("No such cart.")
    items = list(CartItem.objects.filter(cart=cart).select_related("variant__product").order_by("pk"))
    return render(request, "orders/notifications/cart_restored.html", {"cart": cart, "items": items})
