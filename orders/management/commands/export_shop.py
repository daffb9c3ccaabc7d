"""`manage.py export_shop DIR`: write the store as tau-bench retail JSON files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from orders.interchange import shop_export
from orders.models import Customer, Order, Product


class Command(BaseCommand):
    help = "Export the store to DIR/users.json, products.json and orders.json (the tau-bench retail shape)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "directory", type=Path, help="Directory to write (created if missing; files are overwritten)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory: Path = options["directory"]
        if directory.exists() and not directory.is_dir():
            raise CommandError(f"{directory} exists and is not a directory.")
        total = Customer.objects.count() + Product.objects.count() + Order.objects.count()
        with tqdm(total=total, desc="Exporting shop", unit="rec", disable=options["verbosity"] == 0) as bar:
            counts = shop_export(directory=directory, progress=bar.update)
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {counts['users']} users, {counts['products']} products, {counts['orders']} orders to {directory}."
            )
        )
