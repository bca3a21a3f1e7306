"""The `medoa` command end to end: real processes, a real port, real signals."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from medoa.cli import ensure_key_file

MEDOA = Path(sys.executable).with_name("medoa")

# The demo always runs on SQLite in its data directory, so the PostgreSQL pass would only repeat these.
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="the medoa command's own database is SQLite; run once"
)
NAMED_LOGINS = [
    "admin", "secadmin", "auditor", "dean", "vp_medical", "medaffairs", "nursing", "quality", "edu",
    "hr", "finance", "equip", "it", "card_head", "card_doc1", "card_doc2", "card_hn", "surg_head",
    "surg_doc1", "icu_head", "icu_doc1", "cleaner1", "cleaner2",
]  # fmt: skip
TOTP_LINE = re.compile(
    r"^\s+(admin|secadmin|auditor)\s+([A-Z2-7]{32})\s+otpauth://totp/MedOA:\1\?secret=\2&issuer=MedOA$", re.M
)


def _env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: none of the test run's Django settings."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MEDOA_", "DJANGO_")) and k != "DATABASE_URL"
    }
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Demo:
    """One `medoa demo` run in its own session, its output in a file."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        self.port = _free_port()
        self.mllp_port = _free_port()  # never the default 2575, which another run may hold
        self.log = data_dir.parent / f"demo-{self.port}.log"
        mllp = [] if "--mllp-port" in args else ["--mllp-port", str(self.mllp_port)]
        self.proc = subprocess.Popen(
            [str(MEDOA), "--data-dir", str(data_dir), "demo", "--port", str(self.port), *mllp, *args],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            env=_env(),
            start_new_session=True,
        )

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_for_banner(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while "Press Ctrl-C to stop." not in self.output:
            assert self.proc.poll() is None, f"medoa demo exited early:\n{self.output}"
            assert time.monotonic() < deadline, f"no banner within {timeout} s:\n{self.output}"
            time.sleep(0.05)

    def wait_healthy(self, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                status, raw = self.get("/healthz")
                body = json.loads(raw)
                if status == 200 and body.get("database") == "ok" and body.get("worker") == "ok":
                    return body
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"/healthz never became healthy (last: {body}):\n{self.output}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid → (parent pid, process group, state) of every process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[0])
    return table


def _descendants(pid: int) -> set[int]:
    table = _processes()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, (ppid, _g, _s) in table.items() if ppid in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    table = _processes()
    return {p for p in pids if p in table and table[p][2] != "Z"}


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _totp_secrets(output: str) -> dict[str, str]:
    return dict(TOTP_LINE.findall(output))


@pytest.fixture
def demos() -> Iterator[list[Demo]]:
    started: list[Demo] = []
    yield started
    for demo in started:
        demo.kill()


@dataclass(frozen=True)
class FirstRun:
    """A data directory as a first `medoa demo` run left it, and that run's output."""

    data_dir: Path
    output: str

    def copy_to(self, data_dir: Path) -> Path:
        shutil.copytree(self.data_dir, data_dir, symlinks=True)  # keys.json stays 0600
        return data_dir


@pytest.fixture(scope="session")
def first_run(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> FirstRun:
    """One first run of the demo on a fresh data directory (it migrates and loads the demo
    hospital, most of a start), stopped with SIGTERM: the tests that go on from there each start
    on their own copy. Made once per test session, also across xdist workers."""
    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent  # the session's directory, shared by the workers
    base = root / "demo-first-run"
    output_file = base / "output.txt"
    with (root / "demo-first-run.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not output_file.exists():
            shutil.rmtree(base, ignore_errors=True)  # what a failed attempt left
            base.mkdir()
            demo = Demo(base / "var")
            try:
                demo.wait_for_banner()
                assert "Loading the demo hospital" in demo.output
                assert demo.stop(signal.SIGTERM) == 0, demo.output
            finally:
                demo.kill()
            output_file.write_text(demo.output, encoding="utf-8")
    return FirstRun(data_dir=base / "var", output=output_file.read_text(encoding="utf-8"))


def test_demo_serves_web_and_worker_and_ctrl_c_stops_every_process(tmp_path: Path, demos: list[Demo]) -> None:
    # given a fresh data directory, when the demo starts
    data_dir = tmp_path / "var"
    demo = Demo(data_dir)
    demos.append(demo)
    demo.wait_for_banner()

    # then the web server answers and the worker beats
    assert demo.wait_healthy() == {"status": "ok", "database": "ok", "worker": "ok"}
    assert demo.get("/accounts/login/")[0] == 200
    assert demo.get("/static/web/medoa.css")[0] == 200

    # and the banner shows the address, the password, the logins and the administrators' TOTP secrets
    out = demo.output
    assert "Loading the demo hospital" in out
    assert f"http://127.0.0.1:{demo.port}/" in out
    assert "Password:  Medoa@2026" in out
    for username in NAMED_LOGINS:
        assert re.search(rf"^  {username}\s+\S", out, re.M), username
    assert re.search(r"^  card_n01 … card_n20\s+nurse\s+20 名护士", out, re.M)
    assert re.search(r"^  card_head\s+dept_head, doctor\s+林国栋\s+心血管内科", out, re.M)
    assert sorted(_totp_secrets(out)) == ["admin", "auditor", "secadmin"]

    # and the keys were written for this data directory only
    keys_file = data_dir / "keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert (data_dir / "medoa.sqlite3").exists()

    # when Ctrl-C arrives
    children = _descendants(demo.proc.pid)
    groups = {os.getpgid(pid) for pid in _alive(children)} - {demo.proc.pid}
    assert len(children) >= 4  # gunicorn master + 2 workers, the task worker
    assert len(groups) == 1  # the children share one process group
    code = demo.stop(signal.SIGINT)

    # then it exits 0 and no process of it survives
    assert code == 0, demo.output
    assert _alive(children) == set()
    assert not any(_group_exists(g) for g in groups)
    assert "Stopping MedOA" in demo.output


@pytest.mark.slow  # restarts the demo from a first run's data: in CI and make test-all
def test_demo_keeps_its_data_between_runs_and_reset_loads_again(
    tmp_path: Path, demos: list[Demo], first_run: FirstRun
) -> None:
    # given the data directory of a first run, which loaded the demo and exited 0 on SIGTERM
    data_dir = first_run.copy_to(tmp_path / "var")
    secrets_first = _totp_secrets(first_run.output)
    assert sorted(secrets_first) == ["admin", "auditor", "secadmin"]

    # when the demo starts again without --reset, then the same hospital is still there
    second = Demo(data_dir)
    demos.append(second)
    second.wait_for_banner()
    assert "already loaded" in second.output
    assert "Loading the demo hospital" not in second.output
    assert _totp_secrets(second.output) == secrets_first
    assert second.stop() == 0

    # when it starts with --reset, then the database is made and loaded anew
    third = Demo(data_dir, "--reset", "--demo-password", "Other@Pass-2026")
    demos.append(third)
    third.wait_for_banner()
    assert "Reset: removed" in third.output
    assert "Loading the demo hospital" in third.output
    assert "Password:  Other@Pass-2026" in third.output
    secrets_third = _totp_secrets(third.output)
    assert sorted(secrets_third) == ["admin", "auditor", "secadmin"]
    assert secrets_third != secrets_first
    assert third.stop() == 0


@pytest.mark.slow  # restarts the demo from a first run's data: in CI and make test-all
def test_demo_stops_the_rest_and_fails_when_a_child_dies(
    tmp_path: Path, demos: list[Demo], first_run: FirstRun
) -> None:
    demo = Demo(first_run.copy_to(tmp_path / "var"))
    demos.append(demo)
    demo.wait_for_banner()
    children = _descendants(demo.proc.pid)
    worker = next(
        pid
        for pid in children
        if b" worker" in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    )

    os.kill(worker, signal.SIGKILL)

    assert demo.proc.wait(30) == 1
    assert "the worker stopped unexpectedly" in demo.output
    assert _alive(children) == set()


def test_demo_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [str(MEDOA), "--data-dir", str(tmp_path / "var"), "demo", "--port", str(port)],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=60,
        )

    assert result.returncode == 2
    assert f"medoa: error: port {port} on 127.0.0.1 is in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(MEDOA), "--data-dir", str(tmp_path / "empty"), "serve", "--port", str(_free_port())],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.startswith("medoa: error: MedOA refuses to start without a secret key")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.slow  # migrates two fresh data directories (~30 s): in CI and make test-all
def test_manage_takes_the_data_dir_before_or_after_the_command(tmp_path: Path) -> None:
    # given a data directory with its keys (as `medoa demo` leaves it), and no MEDOA_ENV
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    ensure_key_file(data_dir)

    # when migrating with --data-dir before `manage`, and asking with --data-dir after the command
    migrate = subprocess.run(
        [str(MEDOA), "--data-dir", str(data_dir), "manage", "migrate", "--noinput", "-v", "0"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    shown = subprocess.run(
        [str(MEDOA), "manage", "showmigrations", "runtime", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )

    # then both reached the data directory's database
    assert migrate.returncode == 0, migrate.stderr
    assert (data_dir / "medoa.sqlite3").exists()
    assert shown.returncode == 0, shown.stderr
    assert "[X] 0001_initial" in shown.stdout


def test_key_file_is_private_complete_and_never_overwritten(tmp_path: Path) -> None:
    path = ensure_key_file(tmp_path)
    keys = json.loads(path.read_text())

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(keys["secret_key"]) >= 50
    assert keys["active_field_key"] == "k1"
    for value in (keys["field_keys"]["k1"], keys["blind_index_key"], keys["audit_key"]):
        assert len(base64.b64decode(value)) == 32
    assert len({keys["field_keys"]["k1"], keys["blind_index_key"], keys["audit_key"]}) == 3

    ensure_key_file(tmp_path)
    assert json.loads(path.read_text()) == keys


# --- the MLLP listener (medoa mllp, and in the demo) ---------------------------------------------


def _mllp_exchange(port: int, text: str) -> str:
    frame = b"\x0b" + text.encode() + b"\x1c\x0d"
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(frame)
        data = b""
        while not data.endswith(b"\x1c\x0d"):
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {data!r}"
            data += chunk
    return data[1:-2].decode()


def _hl7(control_id: str) -> str:
    return (
        f"MSH|^~\\&|HIS|DEMO|MEDOA|OA|20261126120000||ADT^A01|{control_id}|P|2.5\r"
        "EVN|A01|20261126120000\rPID|1||P9^^^DEMO^MR||TEST^ONE\rPV1|1|I|W1^1^1\r"
    )


@pytest.mark.slow  # migrates a fresh data directory first (~30 s): in CI and make test-all
def test_mllp_command_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    ensure_key_file(data_dir)
    env = _env()
    migrate = subprocess.run(
        [str(MEDOA), "--data-dir", str(data_dir), "manage", "migrate", "-v", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr
    port = _free_port()
    proc = subprocess.Popen(
        [str(MEDOA), "--data-dir", str(data_dir), "mllp", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.05)
        # no Sender row: the allow-list refuses, with an AR naming the client
        ack = _mllp_exchange(port, _hl7("CLI1"))
        assert "\rMSA|AR|CLI1" in ack
        assert "not on the MLLP allow-list" in ack
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_mllp_command_refuses_a_port_in_use(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    ensure_key_file(data_dir)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [str(MEDOA), "--data-dir", str(data_dir), "mllp", "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=60,
        )
    assert result.returncode == 2
    assert f"medoa: error: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # restarts the demo from a first run's data: in CI and make test-all
def test_demo_runs_the_mllp_listener_and_prints_the_his_key(
    tmp_path: Path, demos: list[Demo], first_run: FirstRun
) -> None:
    data_dir = first_run.copy_to(tmp_path / "var")
    demo = Demo(data_dir)
    demos.append(demo)
    demo.wait_for_banner()
    out = demo.output

    # the banner names the listener and the HIS key, which is in its file (0600)
    assert f"HL7 MLLP:  127.0.0.1:{demo.mllp_port}" in out
    key_file = data_dir / "demo-his.key"
    raw = key_file.read_text().strip()
    assert f"HIS key:   {raw}   (also in {key_file})" in out
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    # loopback may send any facility: AA, and the repeat gets the same ACK
    first = _mllp_exchange(demo.mllp_port, _hl7("DEMO1"))
    assert "\rMSA|AA|DEMO1" in first
    assert _mllp_exchange(demo.mllp_port, _hl7("DEMO1")) == first

    # over HTTP with the key
    request = urllib.request.Request(
        f"http://127.0.0.1:{demo.port}/api/v1/integration/hl7",
        data=_hl7("DEMO2").encode(),
        headers={"Content-Type": "application/hl7-v2", "Authorization": f"Bearer {raw}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        assert response.status == 200
        assert "\rMSA|AA|DEMO2" in response.read().decode()
    assert demo.stop() == 0


def test_demo_refuses_an_mllp_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [
                str(MEDOA), "--data-dir", str(tmp_path / "var"), "demo",
                "--port", str(_free_port()), "--mllp-port", str(port),
            ],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=60,
        )  # fmt: skip
    assert result.returncode == 2
    assert (
        f"medoa: error: port {port} on 127.0.0.1 is in use; choose another with --mllp-port" in result.stderr
    )
