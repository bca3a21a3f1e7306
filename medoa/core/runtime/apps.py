from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    name = "medoa.core.runtime"
    label = "runtime"
