"""`manage.py bench_chat` runs end to end (a few turns) and reports what the README quotes."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command

from chat.models import Conversation, ToolCallLog
from orders.models import Customer


@pytest.mark.django_db
def test_bench_chat_measures_turns_counts_queries_and_cleans_up():
    out = StringIO()
    audit_rows = ToolCallLog.objects.count()
    call_command("bench_chat", turns=4, warmup=1, stdout=out)
    report = out.getvalue()
    assert "turns measured: 4 (after 1 warm-up)" in report
    statements, transactions = map(
        int, re.search(r"SQL per turn: +(\d+) statements \+ (\d+) BEGIN/COMMIT", report).groups()
    )
    assert 5 <= statements + transactions <= 25  # the budget; the tools and the turn do query
    assert re.search(r"server overhead \(no LLM\): +p50 [\d.]+ ms, p95 [\d.]+ ms", report)
    assert not Customer.objects.filter(handle__startswith="bench_").exists()
    assert not Conversation.objects.filter(customer__handle__startswith="bench_").exists()
    assert ToolCallLog.objects.count() == audit_rows  # its audit rows go too
