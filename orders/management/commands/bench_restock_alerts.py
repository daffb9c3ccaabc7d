"""`manage.py bench_restock_alerts`: time from a restock to every alert recorded as sent.

Creates N subscribers to one sold-out variant, starts ONE Celery worker process on the
configured broker and database, restocks the variant through variant_set_stock and waits until
N RestockNotification rows are sent. The worker mails through Django's in-memory (locmem)
backend (EMAIL_URL=memorymail://) so the figure measures the job machinery — claiming,
ledgering, queueing, rendering both parts — not a mail server. Everything created is deleted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count
from tqdm import tqdm

from orders.models import Customer, Product, RestockEvent, RestockNotification, RestockSubscription, Variant
from orders.services import variant_set_stock
from supportbot.celery import app


class Command(BaseCommand):
    help = "Benchmark: N back-in-stock subscribers, one worker, time until all alerts are recorded sent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--subscribers", type=int, default=10_000)
        parser.add_argument(
            "--concurrency",
            type=int,
            default=settings.CELERY_WORKER_CONCURRENCY,
            help="Pool processes of the one worker (default CELERY_WORKER_CONCURRENCY).",
        )
        parser.add_argument("--timeout", type=float, default=300.0)

    def handle(self, *args: Any, **options: Any) -> None:
        count: int = options["subscribers"]
        others = app.control.ping(timeout=1.0) or []
        if others:
            names = ", ".join(name for reply in others for name in reply)
            raise CommandError(
                f"Other workers consume from this broker ({names}); they would take the benchmark's tasks. Stop them or point REDIS_URL at another database."
            )
        tag = uuid.uuid4().hex[:8]
        product = Product.objects.create(
            product_id=f"bench-{tag}", name=f"Benchmark lamp {tag}", product_type="benchmark"
        )
        variant = Variant.objects.create(
            product=product, item_id=f"bench-{tag}", options={"color": "teal"}, price=Decimal("19.00"), stock_quantity=0
        )
        worker = None
        try:
            customers = Customer.objects.bulk_create(
                [
                    Customer(
                        handle=f"bench_{tag}_{n}",
                        first_name="Bench",
                        last_name=f"User{n}",
                        email=f"bench_{tag}_{n}@example.com",
                    )
                    for n in range(count)
                ],
                batch_size=2000,
            )
            RestockSubscription.objects.bulk_create(
                [RestockSubscription(customer=c, variant=variant) for c in customers], batch_size=2000
            )
            worker = self._start_worker(options["concurrency"])
            self.stdout.write(
                f"{count} subscribers, one worker (concurrency {options['concurrency']}, RESTOCK_BATCH_SIZE {settings.RESTOCK_BATCH_SIZE}, locmem email backend)"
            )

            started = time.perf_counter()
            variant_set_stock(item_id=variant.item_id, stock_quantity=25)
            sent = 0
            with tqdm(total=count, desc="Alerts sent", unit="mail") as bar:
                while sent < count and time.perf_counter() - started < options["timeout"]:
                    time.sleep(0.2)
                    now_sent = RestockNotification.objects.filter(
                        event__variant=variant, status=RestockNotification.Status.SENT
                    ).count()
                    bar.update(now_sent - sent)
                    sent = now_sent
            elapsed = time.perf_counter() - started
            duplicates = (
                RestockNotification.objects.filter(event__variant=variant)
                .values("subscription")
                .annotate(n=Count("id"))
                .filter(n__gt=1)
                .count()
            )
            still_active = RestockSubscription.objects.filter(
                variant=variant, status=RestockSubscription.Status.ACTIVE
            ).count()
            self.stdout.write(
                f"restock -> {sent} alerts recorded sent in {elapsed:.1f} s "
                f"({sent / elapsed:.0f}/s); subscriptions alerted twice: {duplicates}; still waiting: {still_active}"
            )
            if sent != count or duplicates or still_active:
                raise CommandError(
                    f"expected exactly {count} sends, got {sent} (duplicates {duplicates}, waiting {still_active})"
                )
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)
            RestockNotification.objects.filter(event__variant=variant).delete()
            RestockEvent.objects.filter(variant=variant).delete()
            RestockSubscription.objects.filter(variant=variant).delete()
            Customer.objects.filter(handle__startswith=f"bench_{tag}_").delete()
            product.delete()

    def _start_worker(self, concurrency: int) -> subprocess.Popen[bytes]:
        hostname = f"bench-{uuid.uuid4().hex[:6]}@{os.uname().nodename}"
        env = {**os.environ, "EMAIL_URL": "memorymail://", "LOG_LEVEL": "WARNING"}
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "supportbot",
                "worker",
                "--queues",
                "default,email",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "--hostname",
                hostname,
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "WARNING",
            ],
            cwd=settings.BASE_DIR,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CommandError("the benchmark worker exited during startup")
            if app.control.ping(destination=[hostname], timeout=0.5):
                return process
        process.kill()
        raise CommandError("the benchmark worker did not answer within 60 s")
