from django.apps import AppConfig


class NyxsyncConfig(AppConfig):
    name = "nyxsync"
    verbose_name = "nyxsync"

    def ready(self) -> None:
        from nyxsync import checks, tenancy  # noqa: F401  (registers checks; sets the context on new connections)
