"""``medoa manage approvals_install --user <username>``: publish the start forms and deploy the
models of the approval centre's request types that are not installed yet (a new installation;
the demo does it by itself). The user must hold ``flow.definition.design`` and
``forms.definition.design``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from medoa.modules.approvals import services
from medoa.modules.approvals.errors import ApprovalError
from medoa.modules.approvals.workdays import CHINA_2026


class Command(BaseCommand):
    help = "Install the approval centre's processes and forms (those not installed yet)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="the designer who deploys (a username)")
        parser.add_argument("--type", action="append", dest="types", help="only these request types")
        parser.add_argument(
            "--holidays-2026", action="store_true", help="also add the 2026 public holidays to the calendar"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"no user {options['user']!r}")
        try:
            installed = services.models_install(actor=user, keys=options["types"])
        except ApprovalError as exc:
            raise CommandError(str(exc.message)) from exc
        self.stdout.write(f"installed: {', '.join(installed) or 'nothing (all installed)'}")
        if options["holidays_2026"]:
            self.stdout.write(f"holiday calendar: {services.holidays_seed(CHINA_2026)} day(s) added")
