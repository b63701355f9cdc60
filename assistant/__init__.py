"""The Django project; importing it also sets up the Celery app so `shared_task`s bind to it."""
from worker.celery_app import app as celery_app

__all__ = ("celery_app",)
