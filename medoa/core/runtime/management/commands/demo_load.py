"""``medoa manage demo_load``: load the demo hospital into an empty database (all apps' loaders)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from medoa.core.runtime.demo import DEFAULT_DEMO_PASSWORD, demo_is_loaded, run_demo_loaders


class Command(BaseCommand):
    help = "Load the demo hospital (示范市第一人民医院) when the database has no departments yet."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--password", default=DEFAULT_DEMO_PASSWORD, help="password of every demo login")

    def handle(self, *args: Any, password: str, **options: Any) -> None:
        if demo_is_loaded():
            self.stdout.write("The database already has departments: demo data not loaded.")
            return
        keys = run_demo_loaders(password=password)
        self.stdout.write(f"Demo hospital loaded ({', '.join(keys)}).")
