"""The project's own conversation suites gate `make test`: a pass rate below the README's figure fails.

Each suite runs through `manage.py eval_conversations` itself, on what a bootstrapped database
holds (the demo store, the help center and its catalog pages, the offline assistant); the
tau-bench suite adds `--shop ../shared/data/retail-shop`, exactly as its README command does, and
skips when that sample is absent. The minimum of each suite is its README Performance row: the
row whose command runs `eval_conversations <suite>` records the measured **passed/total**, and the
suite fails below that rate. Reading the figure from the README keeps the recorded rate and the
enforced one the same number; raise it there when the assistant improves.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from orders.demo_data import demo_store_create

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)
README = ROOT / "README.md"
DEMO_SUITE = "assistant/evals/conversations.jsonl"
SHOP_SUITE = "assistant/evals/retail_shop.jsonl"
SAMPLE = ROOT.parent / "shared" / "data" / "retail-shop"


def recorded_minimum(suite: str) -> tuple[int, int]:
    """The rate recorded as **passed/total** in the README Performance row that runs `suite`."""
    performance = README.read_text(encoding="utf-8").split("\n## Performance", 1)[-1].split("\n## ", 1)[0]
    rows = [line for line in performance.splitlines() if line.startswith("|") and f"eval_conversations {suite}" in line]
    if len(rows) != 1:
        pytest.fail(
            f"README.md's Performance table needs exactly one row whose command runs `eval_conversations {suite}` "
            f"(found {len(rows)}); record the measured pass count there as **passed/total**."
        )
    figure = re.search(r"\*\*(\d+)/(\d+)\*\*", rows[0])
    if figure is None:
        pytest.fail(f"The README row for {suite} has no **passed/total** figure: {rows[0]}")
    return int(figure[1]), int(figure[2])


@pytest.fixture(scope="module")
def bootstrapped(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """What `make run`'s bootstrap leaves in an empty database, built once for both suites.

    Held in a transaction that is rolled back after the module, so no other test sees the store;
    each test (and each conversation in it) runs in a savepoint inside it.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        demo_store_create()
        call_command("ingest_knowledge", catalog=True, verbosity=0, stdout=StringIO())
        yield
        transaction.set_rollback(True)


@pytest.fixture
def offline(settings: Any) -> None:
    settings.LLM_BASE_URL = ""
    settings.LLM_MODEL = ""


def run_suite(suite: str, *args: str, capsys: pytest.CaptureFixture[str]) -> None:
    passed, total = recorded_minimum(suite)
    out = StringIO()
    started = time.perf_counter()
    try:
        call_command(
            "eval_conversations", str(ROOT / suite), *args, "--min-pass", str(passed / total), verbosity=0, stdout=out
        )
        below = ""
    except CommandError as error:
        below = str(error)
    seconds = time.perf_counter() - started
    lines = out.getvalue().splitlines()
    summary = lines[-1] if lines else "no output"
    with capsys.disabled():  # the rate and the wall time belong in every make test log
        print(f"\n{suite}: {summary} in {seconds:.0f} s (README minimum {passed}/{total})")
    failures = "\n".join(line for line in lines if line.startswith("FAIL "))
    assert not below, f"{below} — the README records {passed}/{total}.\n{failures}"


def test_the_demo_store_suite_passes_at_least_its_recorded_rate(
    bootstrapped: None, offline: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run_suite(DEMO_SUITE, capsys=capsys)


@pytest.mark.skipif(
    not (SAMPLE / "orders.json").is_file(),
    reason=f"the tau-bench retail sample is not at {SAMPLE} (../shared is absent in a clone outside the workspace)",
)
def test_the_tau_bench_store_suite_passes_at_least_its_recorded_rate(
    bootstrapped: None, offline: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run_suite(SHOP_SUITE, "--shop", str(SAMPLE), capsys=capsys)
