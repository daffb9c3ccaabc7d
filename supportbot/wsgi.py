import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
application = get_wsgi_application()

from supportbot.runtime import process_ready  # noqa: E402 - needs Django set up first

process_ready()
