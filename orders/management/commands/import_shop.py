"""`manage.py import_shop DIR`: load a tau-bench retail store (users/products/orders.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from orders.interchange import ShopFormatError, shop_import, shop_read


class Command(BaseCommand):
    help = "Import users.json, products.json and orders.json from DIR (upsert by public id, all or nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, help="Directory holding users.json, products.json and orders.json.")
        parser.add_argument(
            "--stock",
            type=int,
            default=10,
            help="Stock given to each available variant (default 10); unavailable ones get 0.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory: Path = options["directory"]
        if options["stock"] < 1:
            raise CommandError("--stock must be 1 or more (available variants need stock to stay available).")
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory.")
        try:
            data = shop_read(directory)
        except ShopFormatError as error:
            raise CommandError(f"Nothing was imported: {error}") from error
        with tqdm(total=data.size, desc="Importing shop", unit="rec", disable=options["verbosity"] == 0) as bar:
            counts = shop_import(data=data, stock=options["stock"], progress=bar.update)
        self.stdout.write(
            self.style.SUCCESS("Imported " + ", ".join(f"{n} {name}" for name, n in counts.items()) + ".")
        )
