"""ASGI entry point (gunicorn with uvicorn workers; streaming responses), on core.asgi's handler: the sync
middleware chain and view in one thread hop per request."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from core.asgi import get_asgi_application  # noqa: E402 - the settings module is named first

application = get_asgi_application()
