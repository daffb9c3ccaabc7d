"""Prepare a database: migrate, demo data when empty, help center, NLU model; demo accounts in development.

The demo accounts' passwords are published in the README, so they are created only where that
is harmless: with DEBUG on (`make run`) or when asked for with `--demo`. A production database
gets no account at all; the operator creates one with `manage.py createsuperuser`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from knowledge import embeddings
from orders.models import Customer
from supportbot import demo


class Command(BaseCommand):
    help = (
        "Migrate, load demo data into an empty store, ingest the help center and train the NLU model; "
        "with DEBUG on or --demo, also create the demo staff and customer accounts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--demo",
            action="store_true",
            help="Create the demo accounts (published passwords) even with DEBUG off. Never on a public site.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        call_command("collectstatic", interactive=False, verbosity=0)
        with_demo_accounts = settings.DEBUG or options["demo"]
        created = self._demo_accounts() if with_demo_accounts else False
        available = get_commands()
        # The embedding model is exported to ONNX once per machine (a couple of seconds); doing it
        # here keeps that out of the first chat turn.
        embeddings.warm_up()
        self.stdout.write(f"Embedding model ready ({embeddings.backend()}).")
        # Later parts of the product register their own loaders; each one is idempotent.
        if "seed_demo" in available:
            call_command("seed_demo", only_if_empty=True, stdout=self.stdout)
        if "ingest_knowledge" in available:
            call_command("ingest_knowledge", catalog=True, stdout=self.stdout)
        if "train_nlu" in available:
            call_command("train_nlu", if_stale=True, stdout=self.stdout)
        if not with_demo_accounts:
            self.stdout.write(
                self.style.SUCCESS(
                    "No account created (DEBUG is off). Create a staff account with: python manage.py createsuperuser"
                )
            )
            return
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
