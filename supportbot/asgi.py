"""The ASGI application the web server runs: gunicorn supervising uvicorn workers (Procfile).

Under ASGI, Django runs each request's synchronous code in a thread of its own, so Django's
persistent connections (one per thread) would pile up; a connection pool per process is the
supported way instead (settings: DATABASE_POOL).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
os.environ.setdefault("DATABASE_POOL", "on")
application = get_asgi_application()
