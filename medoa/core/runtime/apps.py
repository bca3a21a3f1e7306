from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    """The processes around the web app: worker heartbeats, and the demo loaders' machinery."""

    name = "medoa.core.runtime"
    label = "runtime"

    def ready(self) -> None:
        # Imported here, not at the top: org's models need the app registry to be ready.
        from medoa.core.org.demo import demo_load
        from medoa.core.registries import DemoLoader, demo_loaders

        demo_loaders.register("org", DemoLoader("org", demo_load, order=10))
