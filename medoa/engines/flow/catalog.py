"""The process engine's catalog for the layers that may not import it (registered as
``medoa.core.registries.process_catalog["flow"]``): the form engine's no-code apps offer these
processes in their builder and send "New" to the process's start page."""

from __future__ import annotations

from django.urls import reverse

from medoa.core.registries import ProcessCatalog

from .models import ProcessDefinition


def deployed_processes() -> list[tuple[str, str]]:
    """``(key, name)`` of every deployed, active process."""
    return list(
        ProcessDefinition.objects.filter(is_active=True, latest_version__isnull=False)
        .order_by("key")
        .values_list("key", "name")
    )


def start_url(key: str) -> str:
    return reverse("flow:instance_start", args=[key])


PROCESS_CATALOG = ProcessCatalog(processes=deployed_processes, start_url=start_url)
