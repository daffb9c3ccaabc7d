"""Give N customers of the seeded store a login, for the load test.

    DJANGO_SETTINGS_MODULE=supportbot.settings python -m bench.prepare --customers 40 --out FILE

Runs against whatever DATABASE_URL points at (the runner points it at the `loadtest`
database). Picks the seeded customers with the most orders, gives each a login with one
shared password (hashed once: the load test measures chat and pages, not password hashing)
and writes their emails, order ids and the help-center slugs to FILE as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
    import django

    django.setup()
    # Imported after django.setup(): this script is not a management command, and models load
    # only once the app registry is ready.
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.db.models import Count
    from tqdm import tqdm

    from knowledge.models import Document
    from orders.models import Customer

    password = secrets.token_urlsafe(16)
    hashed = make_password(password)
    candidates = list(
        Customer.objects.filter(user__isnull=True)
        .annotate(order_count=Count("orders"))
        .filter(order_count__gt=0)
        .order_by("-order_count", "handle")[: args.customers]
    )
    if len(candidates) < args.customers:
        print(
            f"Only {len(candidates)} seeded customers with orders; asked for {args.customers}. "
            "Seed a bigger store (seed_demo --customers/--orders).",
            file=sys.stderr,
        )
        return 1
    users = get_user_model().objects
    accounts = []
    with transaction.atomic():
        for customer in tqdm(candidates, desc="Load-test customers", unit="customer"):
            user = users.create(
                username=customer.email, email=customer.email, password=hashed, first_name=customer.first_name
            )
            customer.user = user
            customer.save(update_fields=["user"])
            orders = list(customer.orders.order_by("order_id").values_list("order_id", flat=True))
            accounts.append({"email": customer.email, "orders": orders})
    slugs = list(
        Document.objects.filter(kind__in=Document.PUBLIC_KINDS).order_by("slug").values_list("slug", flat=True)[:50]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"password": password, "customers": accounts, "articles": slugs}, indent=1))
    print(
        f"{len(accounts)} load-test customers with {sum(len(a['orders']) for a in accounts)} orders; "
        f"{len(slugs)} help-center articles."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
