from django.apps import AppConfig


class FlowConfig(AppConfig):
    name = "medoa.engines.flow"
    label = "flow"
    verbose_name = "Process engine"
