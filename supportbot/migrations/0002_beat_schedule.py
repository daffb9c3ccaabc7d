"""The periodic jobs, as django_celery_beat rows: staff change their schedules in the admin.

get_or_create by name, so re-running never overwrites a schedule staff have edited; the reverse
removes only the rows created here.
"""

from django.db import migrations

SCHEDULE = [
    # (name, task, every N minutes, description)
    ("Cart recovery reminders", "orders.run_cart_recovery", 15,
     "Emails reminders for carts idle longer than CART_ABANDON_AFTER and records conversions."),
    ("Restock alert sweep", "orders.sweep_restock_alerts", 10,
     "Re-sends back-in-stock alerts a crashed worker left pending and catches restocks no hook reported."),
]


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, minutes, description in SCHEDULE:
        interval, _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": interval, "description": description})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_ in SCHEDULE]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("supportbot", "0001_failed_task"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
