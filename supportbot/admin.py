from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from supportbot.models import FailedTask
from supportbot.services import UNSENT_PREFIX, BrokerUnavailable, failed_task_retry


class KindFilter(admin.SimpleListFilter):
    """Unsent (never reached the queue: the broker was down) vs failed (ran and raised)."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("unsent", "Unsent (broker was down)"), ("failed", "Failed (raised in a worker)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[FailedTask]) -> QuerySet[FailedTask]:
        if self.value() == "unsent":
            return queryset.filter(task_id__startswith=UNSENT_PREFIX)
        if self.value() == "failed":
            return queryset.exclude(task_id__startswith=UNSENT_PREFIX)
        return queryset


@admin.register(FailedTask)
class FailedTaskAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "failed_at", "exception_line", "retried_at")
    list_filter = (KindFilter, "name")
    search_fields = ("name", "task_id", "exception")
    date_hierarchy = "failed_at"
    readonly_fields = (
        "task_id",
        "name",
        "args",
        "kwargs",
        "exception",
        "traceback",
        "failed_at",
        "retried_at",
        "retry_task_id",
    )
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Kind")
    def kind(self, obj: FailedTask) -> str:
        if obj.task_id.startswith(UNSENT_PREFIX):
            return "Unsent — sent again" if obj.retried_at else "Unsent — waiting for the broker"
        return "Failed — retried" if obj.retried_at else "Failed"

    @admin.display(description="Exception")
    def exception_line(self, obj: FailedTask) -> str:
        return obj.exception.splitlines()[0][:120] if obj.exception else ""

    @admin.action(description="Retry selected tasks")
    def retry(self, request: HttpRequest, queryset: QuerySet[FailedTask]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        queued = 0
        for pk in ids:
            try:
                failed_task_retry(failed_task_id=pk)
            except BrokerUnavailable as exc:
                self.message_user(request, f"Queued {queued} of {len(ids)} task(s). {exc.message}", messages.ERROR)
                return
            queued += 1
        self.message_user(request, f"Queued {queued} task(s) again.", messages.SUCCESS)
