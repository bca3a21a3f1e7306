"""The `medoa` command: demo, serve, worker and manage (see `medoa --help`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _setup_env(data_dir: str | None, env: str | None = None) -> None:
    if data_dir:
        os.environ["MEDOA_DATA_DIR"] = os.path.abspath(data_dir)
    if env:
        os.environ["MEDOA_ENV"] = env
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medoa.config.settings")


def cmd_manage(args: argparse.Namespace, rest: list[str]) -> int:
    _setup_env(args.data_dir)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["medoa manage", *rest])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medoa", description="MedOA 医务办公系统")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("MEDOA_DATA_DIR"),
        help="directory for the SQLite database, keys and uploads (default ./var, or MEDOA_DATA_DIR)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("manage", help="run a Django management command", add_help=False)
    p.set_defaults(func=cmd_manage, passthrough=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passthrough", False):
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    return int(args.func(args, rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
