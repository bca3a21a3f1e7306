"""``medoa manage resources_install --actor <username> [--force]``: deploy the bed-cleaning
process (``processes/bed_cleaning.bpmn``, key ``bed_cleaning``) — once per installation; the demo
loader does it for the demo."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from medoa.engines.flow.errors import FlowError
from medoa.modules.resources.services import cleaning_process_install


class Command(BaseCommand):
    help = "Deploy the bed-cleaning process of the bed board."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--actor", required=True, help="a user who may deploy processes (it, sys_admin)")
        parser.add_argument(
            "--force", action="store_true", help="deploy a new version even if one is deployed"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["actor"]).first()
        if user is None:
            raise CommandError(f"no user {options['actor']!r}")
        try:
            done = cleaning_process_install(actor=user, force=options["force"])
        except FlowError as exc:
            raise CommandError(str(exc.message)) from None
        self.stdout.write("bed_cleaning deployed" if done else "bed_cleaning is already deployed")
