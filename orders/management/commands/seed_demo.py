"""`manage.py seed_demo`: generate the Cobalt Market demo store."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from orders.demo_data import catalog_size, demo_store_create, store_is_empty


class Command(BaseCommand):
    help = "Generate a believable demo store: catalog, customers, orders in every status, open carts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--only-if-empty", action="store_true", help="Do nothing when the store already has products or orders."
        )
        parser.add_argument(
            "--seed", type=int, default=2026, help="Random seed; the same seed gives the same store (default 2026)."
        )
        parser.add_argument(
            "--customers", type=int, default=60, help="Customers besides the demo customer (default 60)."
        )
        parser.add_argument("--orders", type=int, default=240, help="Orders besides the demo customer's (default 240).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not store_is_empty():
            if options["only_if_empty"]:
                self.stdout.write("Store already has data; demo data not loaded.")
                return
            raise CommandError(
                "The store already has products or orders; seed_demo fills an empty store (use --only-if-empty to skip quietly)."
            )
        if options["customers"] < 1 or options["orders"] < 0:
            raise CommandError("--customers must be at least 1 and --orders at least 0.")
        with tqdm(
            total=catalog_size() + options["orders"],
            desc="Generating demo store",
            unit="rec",
            disable=options["verbosity"] == 0,
        ) as bar:
            counts = demo_store_create(
                seed=options["seed"], customers=options["customers"], orders=options["orders"], tick=bar.update
            )
        self.stdout.write(
            self.style.SUCCESS("Demo store: " + ", ".join(f"{n} {name}" for name, n in counts.items()) + ".")
        )
