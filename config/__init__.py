"""Project wiring: settings, URLs, ASGI/WSGI entry points, health endpoints and the Celery app.

Importing it sets up the Celery app, so `shared_task`s bind to it (cookiecutter-django's layout)."""

from config.celery_app import app as celery_app

__all__ = ("celery_app",)
