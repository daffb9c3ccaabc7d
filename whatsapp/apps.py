from django.apps import AppConfig


class WhatsAppConfig(AppConfig):
    name = "whatsapp"
    verbose_name = "WhatsApp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: app modules may load only once the app registry is ready (apps.py's rule).
        from chat.signals import unanswered_message_apologized
        from tickets.signals import staff_reply_posted
        from whatsapp.services.recovery import apology_on_whatsapp
        from whatsapp.services.staff import staff_reply_on_whatsapp

        # Staff replies on a WhatsApp conversation go out on WhatsApp; tickets never imports this channel.
        staff_reply_posted.connect(staff_reply_on_whatsapp, dispatch_uid="whatsapp.staff_reply_on_whatsapp")
        # So does the apology for a message a killed worker left unanswered; chat never imports it either.
        unanswered_message_apologized.connect(apology_on_whatsapp, dispatch_uid="whatsapp.apology_on_whatsapp")
