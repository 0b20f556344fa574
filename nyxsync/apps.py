from django.apps import AppConfig


class NyxsyncConfig(AppConfig):
    name = "nyxsync"
    verbose_name = "nyxsync"

    def ready(self) -> None:
        from nyxsync import tenancy  # noqa: F401  (sets the tenancy context on new connections)
