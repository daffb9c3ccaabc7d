"""Project-wide records: Celery tasks that failed for good, for staff to inspect and retry."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class FailedTask(models.Model):
    """A task that raised after its last retry. Written by the task_failure signal handler."""

    task_id = models.CharField(max_length=255, db_index=True)
    name = models.CharField(max_length=255, db_index=True)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    exception = models.TextField()
    traceback = models.TextField(blank=True)
    failed_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Set when staff queued it again from the admin; the new attempt has its own task id.
    retried_at = models.DateTimeField(null=True, blank=True)
    retry_task_id = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-failed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} failed at {self.failed_at:%Y-%m-%d %H:%M}"
