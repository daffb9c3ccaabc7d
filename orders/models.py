"""The store: customers and their payment methods, the catalog, orders and their history.

Public identifiers are kept exactly as the store (and the tau-bench retail format) spells them:
`Customer.handle` ("noah_brown_7922"), `PaymentMethod.payment_method_id` ("gift_card_1725971"),
`Product.product_id`, `Variant.item_id`, `Order.order_id` ("#W2611340"). Money is Decimal with
two places. Child rows (items, payments, fulfillments) keep their insertion order by primary key,
which is the order the export writes them in.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Customer(models.Model):
    """A shopper. Public identity is `handle` (the store's user id, e.g. "noah_brown_7922")."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="customer"
    )
    handle = models.CharField(max_length=100, unique=True)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField()
    address1 = models.CharField(max_length=200, blank=True)
    address2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=100, blank=True)
    zip = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["email"])]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.handle})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class PaymentMethod(models.Model):
    class Source(models.TextChoices):
        CREDIT_CARD = "credit_card", "Credit card"
        PAYPAL = "paypal", "PayPal"
        GIFT_CARD = "gift_card", "Gift card"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="payment_methods")
    payment_method_id = models.CharField(max_length=100, unique=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    brand = models.CharField(max_length=40, blank=True)
    last_four = models.CharField(max_length=4, blank=True)
    # Only gift cards carry a balance; it moves with payments and refunds on the card.
    balance = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(source="gift_card", balance__isnull=False, balance__gte=0)
                | (~Q(source="gift_card") & Q(balance__isnull=True)),
                name="payment_method_balance_only_on_gift_cards",
            )
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def is_gift_card(self) -> bool:
        return self.source == self.Source.GIFT_CARD

    @property
    def label(self) -> str:
        """How the method is named to the customer ("your Mastercard ending 9212")."""
        if self.source == self.Source.CREDIT_CARD:
            brand = self.brand.title() if self.brand else "credit card"
            return f"{brand} ending {self.last_four}" if self.last_four else brand
        # Never the internal id ("gift_card_8932269"): customers know a card by its last digits.
        if self.source == self.Source.PAYPAL:
            return "PayPal account"
        digits = "".join(character for character in self.payment_method_id if character.isdigit())
        return f"gift card ending {digits[-4:]}" if digits else "gift card"


class Product(models.Model):
    product_id = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    product_type = models.CharField(max_length=100, db_index=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.product_id})"


class Variant(models.Model):
    """A buyable item of a product: one combination of options at one price."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    item_id = models.CharField(max_length=40, unique=True)
    options = models.JSONField(default=dict)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    stock_quantity = models.PositiveIntegerField(default=0)
    # Inactive variants are withdrawn from sale whatever the stock says.
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.product.name} {self.options_label} ({self.item_id})"

    @property
    def available(self) -> bool:
        return self.active and self.stock_quantity > 0

    @property
    def options_label(self) -> str:
        return ", ".join(f"{key}: {value}" for key, value in self.options.items())


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PENDING_ITEM_MODIFIED = "pending (item modified)", "Pending (items changed)"
        PROCESSED = "processed", "Processed"
        DELIVERED = "delivered", "Delivered"
        CANCELLED = "cancelled", "Cancelled"
        RETURN_REQUESTED = "return requested", "Return requested"
        EXCHANGE_REQUESTED = "exchange requested", "Exchange requested"

    class CancelReason(models.TextChoices):
        NO_LONGER_NEEDED = "no longer needed", "No longer needed"
        ORDERED_BY_MISTAKE = "ordered by mistake", "Ordered by mistake"

    order_id = models.CharField(max_length=40, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.PENDING, db_index=True)
    address1 = models.CharField(max_length=200)
    address2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=100)
    country = models.CharField(max_length=100)
    zip = models.CharField(max_length=20)
    cancel_reason = models.CharField(max_length=30, choices=CancelReason.choices, blank=True)
    return_items = models.JSONField(null=True, blank=True)
    return_payment_method = models.ForeignKey(
        PaymentMethod, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Set by staff when the parcel comes back; the refund is issued at that moment.
    return_received_at = models.DateTimeField(null=True, blank=True)
    exchange_items = models.JSONField(null=True, blank=True)
    exchange_new_items = models.JSONField(null=True, blank=True)
    exchange_payment_method = models.ForeignKey(
        PaymentMethod, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    exchange_price_difference = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.order_id

    # What the customer may still do, by status (tau-bench retail rules).
    @property
    def can_cancel(self) -> bool:
        return self.status == self.Status.PENDING

    @property
    def can_modify(self) -> bool:
        return self.status == self.Status.PENDING

    @property
    def can_return(self) -> bool:
        return self.status == self.Status.DELIVERED

    @property
    def can_exchange(self) -> bool:
        return self.status == self.Status.DELIVERED


class OrderItem(models.Model):
    """One unit of a variant in an order, with name, price and options as at purchase time."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    options = models.JSONField(default=dict)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.variant_id})"


class Fulfillment(models.Model):
    class TrackingStatus(models.TextChoices):
        LABEL_CREATED = "label created", "Label created"
        IN_TRANSIT = "in transit", "In transit"
        OUT_FOR_DELIVERY = "out for delivery", "Out for delivery"
        DELIVERED = "delivered", "Delivered"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="fulfillments")
    tracking_ids = models.JSONField(default=list)
    carrier = models.CharField(max_length=60, blank=True)
    item_ids = models.JSONField(default=list)
    tracking_status = models.CharField(max_length=30, choices=TrackingStatus.choices, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.carrier or 'Shipment'} {', '.join(self.tracking_ids)}"


class PaymentTransaction(models.Model):
    class Type(models.TextChoices):
        PAYMENT = "payment", "Payment"
        REFUND = "refund", "Refund"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="payments")
    transaction_type = models.CharField(max_length=10, choices=Type.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    payment_method = models.ForeignKey(PaymentMethod, on_delete=models.PROTECT, related_name="transactions")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=Decimal("0")), name="payment_amount_not_negative")
        ]

    def __str__(self) -> str:
        return f"{self.transaction_type} {self.amount} ({self.payment_method_id})"


class SelfServiceRefund(models.Model):
    """A refund a customer started themselves (cancellation or return), for the 30-day limit."""

    class Kind(models.TextChoices):
        CANCELLATION = "cancellation", "Cancellation"
        RETURN = "return", "Return"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="self_service_refunds")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.kind} by {self.customer_id} at {self.created_at:%Y-%m-%d}"


class Cart(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ORDERED = "ordered", "Ordered"
        ABANDONED = "abandoned", "Abandoned"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="carts")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)
    # For cart-recovery emails: set when the reminder went out, so it goes out once.
    reminder_sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Cart {self.pk} of {self.customer.handle} ({self.status})"


class CartItem(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cart", "variant"], name="cart_item_once_per_variant")]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.variant_id}"


class RestockSubscription(models.Model):
    """A customer asked to be told when an unavailable variant is back in stock."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CLOSED = "closed", "Closed"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="restock_subscriptions")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="restock_subscriptions")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "variant"], condition=Q(status="active"), name="one_active_restock_subscription"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} waits for {self.variant_id} ({self.status})"

    @property
    def active(self) -> bool:
        return self.status == self.Status.ACTIVE

    def close(self, *, notified: bool = False) -> None:
        """Mark closed (caller saves). `notified` records that the back-in-stock mail went out."""
        now = timezone.now()
        self.status = self.Status.CLOSED
        self.closed_at = now
        if notified:
            self.notified_at = now


from orders.models_notifications import (  # noqa: E402,F401 - registers the email ledgers
    CartReminder,
    EmailOptOut,
    RestockEvent,
    RestockNotification,
    ShipmentNotification,
)
