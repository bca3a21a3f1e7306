"""The `medoa` command: demo, serve, worker, mllp and manage (see `medoa --help`).

Every command takes ``--data-dir`` (or ``MEDOA_DATA_DIR``; default ``./var``): the directory that
holds the SQLite database, ``keys.json``, uploads and collected static files. Django reads its
settings from the environment when they are first imported, so each command sets the environment
first and imports Django's models only after ``django.setup()``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medoa.core.runtime.defaults import DEFAULT_DEMO_PASSWORD, HEARTBEAT_SECONDS
from medoa.core.runtime.signals import set_from_signal

DEFAULT_DATA_DIR = "var"
KEY_FILE = "keys.json"
DB_FILE = "medoa.sqlite3"
STOP_TIMEOUT = 10.0
READY_TIMEOUT = 60.0
# Listening on these means every interface; the banner then shows the loopback address.
ANY_ADDRESSES = frozenset({"0.0.0.0", "::", ""})  # noqa: S104


class CliError(Exception):
    """A problem to report in one line (``medoa: error: …``), without a traceback."""


# --- environment -----------------------------------------------------------------------------------


def data_dir_of(value: str | None) -> Path:
    return Path(value or os.environ.get("MEDOA_DATA_DIR") or DEFAULT_DATA_DIR).expanduser().resolve()


def _setup_env(data_dir: Path, *, env: str | None = None, default_env: str | None = None) -> None:
    os.environ["MEDOA_DATA_DIR"] = str(data_dir)
    if env:
        os.environ["MEDOA_ENV"] = env
    elif default_env:
        os.environ.setdefault("MEDOA_ENV", default_env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medoa.config.settings")


def _django_setup() -> None:
    """Import the settings and populate the apps; configuration errors become one-line errors."""
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as exc:
        raise CliError(str(exc)) from None


def ensure_key_file(data_dir: Path) -> Path:
    """Write ``keys.json`` (mode 0600) with fresh random keys unless it exists; return its path.

    The format is what ``medoa.config.settings`` reads: a secret key, field-encryption keys by key
    id with the active key id, the blind-index key and the audit-chain key.
    """
    path = data_dir / KEY_FILE
    if path.exists():
        return path

    def key() -> str:
        return base64.b64encode(secrets.token_bytes(32)).decode("ascii")

    keys = {
        "secret_key": secrets.token_urlsafe(50),
        "field_keys": {"k1": key()},
        "active_field_key": "k1",
        "blind_index_key": key(),
        "audit_key": key(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(keys, fh, indent=2)
        fh.write("\n")
    return path


def remove_database(data_dir: Path) -> list[Path]:
    removed = []
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = data_dir / f"{DB_FILE}{suffix}"
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


# --- manage ----------------------------------------------------------------------------------------


def _pop_data_dir(rest: list[str]) -> tuple[str | None, list[str]]:
    """Take ``--data-dir X`` / ``--data-dir=X`` out of a Django command line."""
    value: str | None = None
    out: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--data-dir":
            if i + 1 >= len(rest):
                raise CliError("--data-dir needs a directory")
            value = rest[i + 1]
            i += 2
            continue
        if arg.startswith("--data-dir="):
            value = arg.split("=", 1)[1]
        else:
            out.append(arg)
        i += 1
    return value, out


def cmd_manage(args: argparse.Namespace, rest: list[str]) -> int:
    data_dir_arg, rest = _pop_data_dir(rest)
    _setup_env(data_dir_of(data_dir_arg or args.data_dir))
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["medoa manage", *rest])
    except ImproperlyConfigured as exc:
        raise CliError(str(exc)) from None
    return 0


# --- serve -----------------------------------------------------------------------------------------


def _bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def gunicorn_options(
    *, host: str, port: int, workers: int, threads: int, access_log: bool = False
) -> dict[str, Any]:
    return {
        "bind": [_bind_address(host, port)],
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "preload_app": True,  # Django loads once in the master; workers share its memory
        "timeout": 60,
        "graceful_timeout": 8,
        "keepalive": 5,
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "medoa-web",
        "control_socket_disable": True,
        "forwarded_allow_ips": os.environ.get("MEDOA_TRUSTED_PROXIES") or "127.0.0.1",
    }


def run_gunicorn(options: dict[str, Any]) -> None:
    from gunicorn.app.base import BaseApplication

    class MedoaWeb(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from django.db import connections

            from medoa.config.wsgi import application

            connections.close_all()  # never share a connection with the forked workers
            return application

    MedoaWeb().run()


def cmd_serve(args: argparse.Namespace, rest: list[str]) -> int:
    _setup_env(data_dir_of(args.data_dir), default_env="production")
    _django_setup()
    from django.conf import settings

    if not settings.ALLOWED_HOSTS:
        print(
            "medoa serve: warning: MEDOA_ALLOWED_HOSTS is empty, so every request will be refused (400); "
            "set it to the host names the server answers to.",
            file=sys.stderr,
            flush=True,
        )
    workers = args.workers or (2 * (os.cpu_count() or 1) + 1)
    run_gunicorn(
        gunicorn_options(
            host=args.host, port=args.port, workers=workers, threads=args.threads, access_log=args.access_log
        )
    )
    return 0


# --- worker ----------------------------------------------------------------------------------------


def cmd_worker(args: argparse.Namespace, rest: list[str]) -> int:
    _setup_env(data_dir_of(args.data_dir), default_env="production")
    _django_setup()
    from medoa.core.runtime.worker import MedoaWorker

    queues = [q.strip() for q in args.queue.split(",") if q.strip()] or ["*"]
    MedoaWorker(queue_names=queues, interval=args.interval, heartbeat_seconds=args.heartbeat).run()
    return 0


# --- mllp ------------------------------------------------------------------------------------------

DEFAULT_MLLP_PORT = 2575


def cmd_mllp(args: argparse.Namespace, rest: list[str]) -> int:
    _setup_env(data_dir_of(args.data_dir), default_env="production")
    _django_setup()
    from medoa.integration.hl7.mllp import MllpServer

    server = MllpServer(
        host=args.host,
        port=args.port,
        max_connections=args.max_connections,
        idle_timeout=args.idle_timeout,
    )
    try:
        server.run()
    except OSError as exc:
        raise CliError(
            f"cannot listen on {_bind_address(args.host, args.port)}: {exc.strerror or exc}"
        ) from None
    return 0


def cmd_hl7_process(args: argparse.Namespace, rest: list[str]) -> int:
    # A stop asked for while Django is still loading (the worker exits seconds after starting us)
    # is remembered and honoured once the processor runs, instead of killing us mid-setup.
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: set_from_signal(stopped))
    _setup_env(data_dir_of(args.data_dir), default_env="production")
    _django_setup()
    from medoa.integration.hl7.processing import run_processor_process

    run_processor_process(parent_pid=args.parent, stopped=stopped)
    return 0


# --- demo ------------------------------------------------------------------------------------------


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(_pad(cell, widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def demo_banner(
    *,
    url: str,
    data_dir: Path,
    password: str,
    logins: list[Any],
    totps: list[Any],
    host: str,
    mllp: str = "",
    his_key: str = "",
    his_key_file: Path | None = None,
) -> str:
    systems = []
    if mllp:
        systems.append(f"  HL7 MLLP:  {mllp}   (any sending facility, from this machine)")
    if his_key:
        systems.append(f"  HIS key:   {his_key}" + (f"   (also in {his_key_file})" if his_key_file else ""))
        systems.append(f"             POST {url}api/v1/integration/hl7 with Authorization: Bearer <key>")
    nurses = [row for row in logins if row.username.startswith("card_n")]
    rows = [["用户名 username", "角色 role", "姓名 name", "部门 department"]]
    for row in logins:
        if row in nurses:
            continue
        rows.append([row.username, ", ".join(row.roles), row.name, f"{row.department} {row.label}".strip()])
    if nurses:
        first, last = nurses[0], nurses[-1]
        rows.append(
            [
                f"{first.username} … {last.username}",
                ", ".join(first.roles),
                f"{len(nurses)} 名护士",
                f"{first.department} 护士",
            ]
        )
    lines = [
        "",
        "MedOA 医务办公系统 — demo hospital 示范市第一人民医院",
        f"  Open:      {url}",
    ]
    if host in ANY_ADDRESSES:
        lines.append(f"  (listening on every interface, port {url.rsplit(':', 1)[1].rstrip('/')})")
    lines += [
        f"  Data:      {data_dir}",
        f"  Password:  {password}   (the same for every demo login)",
        *systems,
        "",
        "Demo logins:",
        *_table(rows),
    ]
    if totps:
        lines += ["", "Administrators sign in with a TOTP code (second factor); their secrets:"]
        lines += _table([[t.username, t.secret, t.uri] for t in totps])
    lines += ["", "Press Ctrl-C to stop.", ""]
    return "\n".join(lines)


class ChildGroup:
    """The demo's child processes, all in one new process group, stopped together."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.pgid: int | None = None

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, env=env, process_group=self.pgid or 0)  # noqa: S603 — our own argv
        if self.pgid is None:
            self.pgid = proc.pid
        self.children.append((name, proc))
        return proc

    def dead_child(self) -> tuple[str, int] | None:
        for name, proc in self.children:
            code = proc.poll()
            if code is not None:
                return name, code
        return None

    def _group_alive(self) -> bool:
        if self.pgid is None:
            return False
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM each child, wait up to ``timeout`` seconds, then SIGKILL whatever is left."""
        for _name, proc in self.children:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout
        for _name, proc in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.0, deadline - time.monotonic()))
        if self._group_alive() and self.pgid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGKILL)
        for _name, proc in self.children:
            if proc.poll() is None:
                proc.wait(5)


def _wait_until_listening(host: str, port: int, group: ChildGroup, stop: threading.Event) -> bool:
    probe = ("::1" if host == "::" else "127.0.0.1") if host in ANY_ADDRESSES else host
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and not stop.is_set():
        if group.dead_child() is not None:
            return False
        try:
            with socket.create_connection((probe, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def cmd_demo(args: argparse.Namespace, rest: list[str]) -> int:
    data_dir = data_dir_of(args.data_dir)
    if os.environ.pop("DATABASE_URL", None):
        print("medoa demo: DATABASE_URL ignored; the demo runs on SQLite in the data directory.", flush=True)
    _setup_env(data_dir, env="demo")
    os.environ["DJANGO_SETTINGS_MODULE"] = "medoa.config.settings"
    host, port = args.host, args.port
    if not _port_free(host, port):
        raise CliError(f"port {port} on {host} is in use; choose another with --port")
    mllp_host = "::1" if host == "::1" else "127.0.0.1"
    if not _port_free(mllp_host, args.mllp_port):
        raise CliError(f"port {args.mllp_port} on {mllp_host} is in use; choose another with --mllp-port")
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_key_file(data_dir)
    if args.reset:
        removed = remove_database(data_dir)
        print(f"Reset: removed {len(removed)} database file(s) in {data_dir}.", flush=True)
    if not os.environ.get("MEDOA_ALLOWED_HOSTS") and host not in {"127.0.0.1", "localhost", "::1"}:
        os.environ["MEDOA_ALLOWED_HOSTS"] = "*" if host in ANY_ADDRESSES else host

    _django_setup()
    from django.core.management import call_command
    from django.db import connections

    from medoa.core.access.demo_keys import KEY_FILE as HIS_KEY_FILE
    from medoa.core.access.demo_keys import ensure_demo_his_key
    from medoa.core.org.demo import demo_logins, demo_totp_secrets
    from medoa.core.runtime.demo import demo_is_loaded, run_demo_loaders
    from medoa.integration.hl7.demo import ensure_demo_senders

    print("Migrating the database …", flush=True)
    call_command("migrate", interactive=False, verbosity=0)
    if demo_is_loaded():
        print("The demo hospital is already loaded (use --reset to start over).", flush=True)
    else:
        started = time.monotonic()
        print("Loading the demo hospital …", flush=True)
        keys = run_demo_loaders(password=args.demo_password)
        print(f"Demo hospital loaded ({', '.join(keys)}) in {time.monotonic() - started:.1f} s.", flush=True)
    call_command("collectstatic", interactive=False, verbosity=0)
    ensure_demo_senders()  # a demo loaded before the HL7 listener existed gets its allow-list too
    his_key = ensure_demo_his_key(data_dir)
    logins = demo_logins()
    totps = demo_totp_secrets()
    connections.close_all()

    env = dict(os.environ)
    # The web process's simulation page sends to this listener (settings read these variables).
    env["MEDOA_MLLP_HOST"] = mllp_host
    env["MEDOA_MLLP_PORT"] = str(args.mllp_port)
    me = [sys.executable, "-m", "medoa", "--data-dir", str(data_dir)]
    group = ChildGroup()
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        set_from_signal(stop)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        group.spawn(
            "web server",
            [*me, "serve", "--host", host, "--port", str(port), "--workers", "2", "--threads", "4"],
            env,
        )
        group.spawn("worker", [*me, "worker"], env)
        group.spawn("MLLP listener", [*me, "mllp", "--host", mllp_host, "--port", str(args.mllp_port)], env)
        if _wait_until_listening(host, port, group, stop) and _wait_until_listening(
            mllp_host, args.mllp_port, group, stop
        ):
            shown_host = ("::1" if host == "::" else "127.0.0.1") if host in ANY_ADDRESSES else host
            url = f"http://{_bind_address(shown_host, port)}/"
            banner = demo_banner(
                url=url,
                data_dir=data_dir,
                password=args.demo_password,
                logins=logins,
                totps=totps,
                host=host,
                mllp=_bind_address(mllp_host, args.mllp_port),
                his_key=his_key,
                his_key_file=data_dir / HIS_KEY_FILE,
            )
            print(banner, flush=True)
        while not stop.wait(0.25):
            dead = group.dead_child()
            if dead is not None:
                name, code = dead
                print(
                    f"medoa demo: the {name} stopped unexpectedly (exit code {code}); stopping.", flush=True
                )
                return 1
        print("\nStopping MedOA …", flush=True)
        return 0
    finally:
        group.stop()


# --- parser ----------------------------------------------------------------------------------------


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, not {value}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medoa", description="MedOA 医务办公系统")
    data_dir_help = "directory for the SQLite database, keys and uploads (default ./var, or MEDOA_DATA_DIR)"
    parser.add_argument("--data-dir", default=None, help=data_dir_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, **kwargs: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, **kwargs)
        if kwargs.get("add_help", True):
            p.add_argument("--data-dir", default=argparse.SUPPRESS, help=data_dir_help)
        return p

    p = add("demo", "start the demo hospital: SQLite, web server, worker and MLLP listener, with demo logins")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000)")
    p.add_argument(
        "--mllp-port",
        type=_port,
        default=DEFAULT_MLLP_PORT,
        help=f"port of the HL7 MLLP listener, on loopback (default {DEFAULT_MLLP_PORT})",
    )
    p.add_argument("--reset", action="store_true", help="delete the demo database first and load it again")
    p.add_argument(
        "--demo-password",
        default=DEFAULT_DEMO_PASSWORD,
        help=f"password of every demo login ({DEFAULT_DEMO_PASSWORD})",
    )
    p.set_defaults(func=cmd_demo)

    p = add("serve", "run the production web server (gunicorn)")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    p.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--workers", type=_positive, default=None, help="worker processes (default 2 × CPUs + 1)")
    p.add_argument("--threads", type=_positive, default=4, help="threads per worker process (default 4)")
    p.add_argument("--access-log", action="store_true", help="log every request to stderr")
    p.set_defaults(func=cmd_serve)

    p = add("worker", "run the background worker (task queues and heartbeat)")
    p.add_argument("--queue", default="*", help="comma-separated queue names (default '*': all)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls when idle (default 1)")
    p.add_argument(
        "--heartbeat", type=float, default=HEARTBEAT_SECONDS, help="seconds between heartbeats (default 10)"
    )
    p.set_defaults(func=cmd_worker)

    p = add("hl7-process", "process stored HL7 messages (the worker starts it on PostgreSQL)")
    p.add_argument("--parent", type=int, default=None, help="stop when this process ends (the worker)")
    p.set_defaults(func=cmd_hl7_process)

    p = add("mllp", "run the HL7 v2 MLLP listener")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    p.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_MLLP_PORT,
        help=f"port to listen on (default {DEFAULT_MLLP_PORT})",
    )
    p.add_argument(
        "--max-connections", type=_positive, default=None, help="connections at once (default 100)"
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=None,
        help="close a connection idle this many seconds (default 600)",
    )
    p.set_defaults(func=cmd_mllp)

    p = add("manage", "run a Django management command (medoa manage help)", add_help=False)
    p.set_defaults(func=cmd_manage, passthrough=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passthrough", False):
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    try:
        return int(args.func(args, rest) or 0)
    except CliError as exc:
        print(f"medoa: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nmedoa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
