from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from supportbot.models import FailedTask
from supportbot.services import failed_task_retry


@admin.register(FailedTask)
class FailedTaskAdmin(admin.ModelAdmin):
    list_display = ("name", "failed_at", "exception_line", "retried_at")
    list_filter = ("name",)
    search_fields = ("name", "task_id", "exception")
    date_hierarchy = "failed_at"
    readonly_fields = ("task_id", "name", "args", "kwargs", "exception", "traceback", "failed_at", "retried_at", "retry_task_id")
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Exception")
    def exception_line(self, obj: FailedTask) -> str:
        return obj.exception.splitlines()[0][:120] if obj.exception else ""

    @admin.action(description="Retry selected tasks")
    def retry(self, request: HttpRequest, queryset: QuerySet[FailedTask]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        for pk in ids:
            failed_task_retry(failed_task_id=pk)
        self.message_user(request, f"Queued {len(ids)} task(s) again.", messages.SUCCESS)
