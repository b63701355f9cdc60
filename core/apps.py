from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "API kernel"

    def ready(self) -> None:
        from core import token_cache

        token_cache.signals_connect()
