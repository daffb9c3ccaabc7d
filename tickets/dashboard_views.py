"""The support analytics dashboard (staff with the dashboard permission) and its CSV export.

Mounted inside the admin (TicketAdmin.get_urls), so the admin's staff login applies; on top
of that the user needs tickets.view_support_dashboard ("Support lead", superusers).
"""

from __future__ import annotations

import csv
from datetime import date

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tickets import analytics, charts
from tickets.models import DASHBOARD_PERMISSION

PERMISSION = DASHBOARD_PERMISSION


class PeriodForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        default = analytics.DateRange.last_days()
        start: date = data.get("start") or default.start  # type: ignore[assignment]
        end: date = data.get("end") or default.end  # type: ignore[assignment]
        if start > end:
            raise forms.ValidationError("The start date is after the end date.")
        if (end - start).days + 1 > analytics.MAX_DAYS:
            raise forms.ValidationError(f"Choose at most {analytics.MAX_DAYS} days.")
        data["period"] = analytics.DateRange(start=start, end=end)
        return data


def _period(request: HttpRequest) -> tuple[PeriodForm, analytics.DateRange]:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    form = PeriodForm(request.GET or None)
    if form.is_bound and form.is_valid():
        return form, form.cleaned_data["period"]
    return form, analytics.DateRange.last_days()


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def dashboard(request: HttpRequest) -> HttpResponse:
    from django.contrib import admin

    form, period = _period(request)
    data = analytics.dashboard(period=period)
    intents = [(analytics.intent_name(intent), count) for intent, count in data.intents]
    context = {
        **admin.site.each_context(request),
        "title": "Support analytics",
        "form": form,
        "data": data,
        "rates": {
            "automated": _pct(data.outcomes.automated_resolution_rate),
            "escalation": _pct(data.outcomes.escalation_rate),
            "thumbs_up": _pct(data.thumbs.up_ratio),
            "cart_recovery": _pct(data.emails.cart_recovery_rate),
        },
        "per_day_chart": charts.column_chart(
            chart_id="chart-per-day",
            title="Conversations per day",
            points=[(day.isoformat(), count) for day, count in data.per_day],
        ),
        "csat_chart": charts.bar_chart(
            chart_id="chart-csat",
            title="CSAT score distribution",
            points=[(f"{score} ★", count) for score, count in data.satisfaction.distribution.items()],
        ),
        "resolution_definition": analytics.RESOLUTION_DEFINITION,
        "intents_chart": charts.bar_chart(chart_id="chart-intents", title="Top intents", points=intents),
        "intent_rows": intents,
        "tools_chart": charts.bar_chart(
            chart_id="chart-tools",
            title="Tool calls",
            points=[(analytics.tool_name(row.tool), row.calls) for row in data.tools],
        ),
        "tool_rows": [(analytics.tool_name(row.tool), row, _pct(row.failure_rate)) for row in data.tools],
        "query_string": request.GET.urlencode(),
    }
    return render(request, "admin/tickets/dashboard.html", context)


def dashboard_csv(request: HttpRequest) -> HttpResponse:
    _, period = _period(request)
    data = analytics.dashboard(period=period)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="support-{period.start}-{period.end}.csv"'
    writer = csv.writer(response)
    writer.writerow(["section", "key", "value"])

    def rate(value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"

    summary = [
        ("period", "start", period.start.isoformat()),
        ("period", "end", period.end.isoformat()),
        ("conversations", "total", data.outcomes.total),
        ("conversations", "escalated", data.outcomes.escalated),
        ("conversations", "automated_resolutions", data.outcomes.automated),
        ("conversations", "automated_resolution_rate", rate(data.outcomes.automated_resolution_rate)),
        ("conversations", "escalation_rate", rate(data.outcomes.escalation_rate)),
        ("csat", "rated", data.satisfaction.rated),
        ("csat", "average", "" if data.satisfaction.average is None else f"{data.satisfaction.average:.2f}"),
        *[("csat_distribution", str(score), count) for score, count in data.satisfaction.distribution.items()],
        ("feedback", "thumbs_up", data.thumbs.up),
        ("feedback", "thumbs_down", data.thumbs.down),
        ("feedback", "thumbs_up_ratio", rate(data.thumbs.up_ratio)),
        ("latency", "answers", data.latency.answers),
        ("latency", "median_ms", "" if data.latency.median_ms is None else f"{data.latency.median_ms:.1f}"),
        ("latency", "p95_ms", "" if data.latency.p95_ms is None else f"{data.latency.p95_ms:.1f}"),
        ("refunds", "count", data.refunds.count),
        ("refunds", "amount", f"{data.refunds.amount:.2f}"),
        ("emails", "restock_alerts_sent", data.emails.restock_alerts_sent),
        ("emails", "cart_reminders_sent", data.emails.cart_reminders_sent),
        ("emails", "cart_recoveries", data.emails.cart_recoveries),
        *[("conversations_per_day", day.isoformat(), count) for day, count in data.per_day],
        *[("top_intents", intent, count) for intent, count in data.intents],
    ]
    writer.writerows(summary)
    for row in data.tools:
        writer.writerows(
            [
                (f"tool:{row.tool}", "calls", row.calls),
                (f"tool:{row.tool}", "failures", row.failures),
                (f"tool:{row.tool}", "failure_rate", rate(row.failure_rate)),
            ]
        )
    return response


__all__ = ["dashboard", "dashboard_csv"]
