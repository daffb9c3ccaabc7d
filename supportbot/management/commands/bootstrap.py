"""Prepare a database for `make run`: migrate, demo accounts, demo data when empty."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand
from django.db import transaction

from orders.models import Customer
from supportbot import demo


class Command(BaseCommand):
    help = "Migrate, create the demo staff and customer accounts, and load demo data into an empty store."

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        call_command("collectstatic", interactive=False, verbosity=0)
        created = self._demo_accounts()
        available = get_commands()
        # The embedding model is exported to ONNX once per machine (a couple of seconds); doing it
        # here keeps that out of the first chat turn.
        from knowledge import embeddings

        embeddings.warm_up()
        self.stdout.write(f"Embedding model ready ({embeddings.backend()}).")
        # Later parts of the product register their own loaders; each one is idempotent.
        if "seed_demo" in available:
            call_command("seed_demo", only_if_empty=True, stdout=self.stdout)
        if "ingest_knowledge" in available:
            call_command("ingest_knowledge", catalog=True, stdout=self.stdout)
        if "train_nlu" in available:
            call_command("train_nlu", if_stale=True, stdout=self.stdout)
        state = "created" if created else "already present"
        self.stdout.write(self.style.SUCCESS(f"Demo accounts {state}:"))
        self.stdout.write(f"  staff     {demo.DEMO_STAFF_USERNAME} / {demo.DEMO_STAFF_PASSWORD}  (admin at /admin/)")
        self.stdout.write(f"  customer  {demo.DEMO_CUSTOMER_EMAIL} / {demo.DEMO_CUSTOMER_PASSWORD}")

    @transaction.atomic
    def _demo_accounts(self) -> bool:
        users = get_user_model().objects
        created = False
        if not users.filter(username=demo.DEMO_STAFF_USERNAME).exists():
            users.create_superuser(demo.DEMO_STAFF_USERNAME, demo.DEMO_STAFF_EMAIL, demo.DEMO_STAFF_PASSWORD)
            created = True
        if not users.filter(username=demo.DEMO_CUSTOMER_EMAIL).exists():
            user = users.create_user(
                demo.DEMO_CUSTOMER_EMAIL,
                demo.DEMO_CUSTOMER_EMAIL,
                demo.DEMO_CUSTOMER_PASSWORD,
                first_name=demo.DEMO_CUSTOMER_FIRST_NAME,
                last_name=demo.DEMO_CUSTOMER_LAST_NAME,
            )
            Customer.objects.update_or_create(
                handle=demo.DEMO_CUSTOMER_HANDLE,
                defaults={
                    "user": user,
                    "first_name": demo.DEMO_CUSTOMER_FIRST_NAME,
                    "last_name": demo.DEMO_CUSTOMER_LAST_NAME,
                    "email": demo.DEMO_CUSTOMER_EMAIL,
                    "address1": "12 Harbor Lane",
                    "city": "Portland",
                    "state": "OR",
                    "country": "USA",
                    "zip": "97201",
                },
            )
            created = True
        return created
