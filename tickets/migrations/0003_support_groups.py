"""The two staff groups: "Support agent" works tickets, "Support lead" runs support.

Permissions are normally created after all migrations (post_migrate), so this migration
creates them first for the apps it needs; running it again only adds what is missing.
"""

from django.db import migrations

AGENT = "Support agent"
LEAD = "Support lead"

SUPPORT_APPS = ("tickets", "chat", "orders")

# Agents read everything support needs and change tickets; they never delete anything.
AGENT_PERMISSIONS = {
    "tickets": ["view_ticket", "change_ticket", "view_ticketevent", "add_ticketevent"],
    "chat": ["view_conversation", "view_message", "view_pendingaction", "view_feedback", "view_toolcalllog"],
    "orders": [
        "view_customer", "view_paymentmethod", "view_order", "view_orderitem", "view_fulfillment",
        "view_paymenttransaction", "view_product", "view_variant", "view_restocksubscription", "view_cart",
    ],
}


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        if app_config.label in SUPPORT_APPS:
            # Historical app configs have no models module; create_permissions skips those.
            app_config.models_module = True
            create_permissions(app_config, apps=apps, verbosity=0)
            app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    agent, _ = Group.objects.get_or_create(name=AGENT)
    for app_label, codenames in AGENT_PERMISSIONS.items():
        agent.permissions.add(*Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))

    # Leads: every permission of the support apps, deletes and the dashboard included.
    lead, _ = Group.objects.get_or_create(name=LEAD)
    lead.permissions.add(*Permission.objects.filter(content_type__app_label__in=SUPPORT_APPS))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[AGENT, LEAD]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0002_ticket_events"),
        ("chat", "0001_initial"),
        ("orders", "0003_email_ledgers"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
