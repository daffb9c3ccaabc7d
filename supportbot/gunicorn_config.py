"""gunicorn's configuration (`gunicorn --config python:supportbot.gunicorn_config`): the app and
worker class for the interface supportbot.server.web_interface() picks. Everything else (bind,
workers, timeout) stays on the command line where the Procfile and the Dockerfile show it."""

from supportbot.server import web_interface

if web_interface() == "asgi":
    wsgi_app = "supportbot.asgi:application"
    worker_class = "supportbot.server.WebWorker"
else:
    wsgi_app = "supportbot.wsgi:application"
    worker_class = "sync"
