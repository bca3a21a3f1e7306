from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "medoa.web"
    label = "web"
