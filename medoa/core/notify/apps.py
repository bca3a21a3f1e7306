from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "medoa.core.notify"
    label = "notify"
