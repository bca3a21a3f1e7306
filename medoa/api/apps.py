from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "medoa.api"
    label = "api"
