from django.apps import AppConfig


class NyxsyncConfig(AppConfig):
    name = "nyxsync"
    verbose_name = "nyxsync"
