"""``medoa manage simulate_his --discharges N --critical N [--host H] [--port 2575]``: the demo HIS
sends real HL7 discharges (ADT^A03) and critical results (ORU^R01, OBX-8 HH/LL) through the MLLP
listener, for occupied demo beds (see docs/resources.md, "Simulation")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from medoa.modules.resources.simulate import describe, mllp_host, mllp_port, simulate


class Command(BaseCommand):
    help = "Send simulated HIS discharges and critical results through the MLLP listener."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--discharges", type=int, default=1, help="ADT^A03 discharges to send")
        parser.add_argument("--critical", type=int, default=1, help="ORU^R01 critical results to send")
        parser.add_argument("--host", default="", help="the MLLP listener's host (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=0, help="the MLLP listener's port (default 2575)")

    def handle(self, *args: Any, **options: Any) -> None:
        discharges, critical = options["discharges"], options["critical"]
        if discharges < 0 or critical < 0 or discharges + critical > 500:
            raise CommandError("--discharges and --critical: 0 to 500 messages in all")
        host = options["host"] or mllp_host()
        port = options["port"] or mllp_port()
        try:
            sent = simulate(discharges=discharges, critical=critical, host=host, port=port)
        except OSError as exc:
            raise CommandError(f"cannot reach the MLLP listener at {host}:{port}: {exc}") from None
        if not sent:
            self.stdout.write("no occupied demo bed to use (load the demo first)")
        for line in describe(sent):
            self.stdout.write(line)
