"""Beat schedule for re-sending tasks a broker outage left unsent (supportbot.requeue_unsent_tasks).

Same pattern as 0002: get_or_create by name, so staff edits survive; the reverse removes only this row.
"""

from django.db import migrations

NAME = "Re-send unsent tasks"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "supportbot.requeue_unsent_tasks",
            "interval": interval,
            "description": "Publishes again the jobs that could not be queued while Redis was down (FailedTask rows "
            "whose task id starts with 'unsent:'), each exactly once.",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("supportbot", "0002_beat_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
