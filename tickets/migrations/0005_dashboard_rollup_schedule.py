"""Beat schedule for sealing the dashboard's latency rollup (tickets.seal_dashboard_rollup).

Hourly, so a finished day is read from the rollup within an hour of midnight (until then it is
computed live, so the figures are the same either way). Same pattern as supportbot 0002:
get_or_create by name, so staff edits survive; the reverse removes only this row.
"""

from django.db import migrations

NAME = "Dashboard latency rollup"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=60, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "tickets.seal_dashboard_rollup",
            "interval": interval,
            "description": "Counts each finished day's assistant answers into the exact latency histogram the "
            "analytics dashboard reads (today is always computed live).",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0004_dashboard_rollup"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
