from django.apps import AppConfig


class SupportbotConfig(AppConfig):
    name = "supportbot"
    verbose_name = "Supportbot"

    def ready(self) -> None:
        # Imported here: app modules may load only once the app registry is ready (apps.py's rule).
        from supportbot import metrics

        # Task outcome/latency counters and failed-task records, in workers (no-op elsewhere).
        metrics.connect_signals()
