"""Fixtures of the webhook tests: a real HTTP receiver on loopback (http.server in a thread), a
test event type, and people holding roles."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from medoa.core.access.grants import sync_role_grants
from medoa.core.events.registry import EventType, event_types
from medoa.core.org.models import Staff
from medoa.core.org.tests.factories import person_maker
from medoa.integration.webhooks import services

TOTP_SECRET = "JBSWY3DPEHPK3PXP"


class Ping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = 0


PING = EventType("testwebhooks.ping.sent", Ping, label="ping")
OTHER = EventType("testwebhooks.other.sent", Ping, label="other")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP server: ``statuses`` answer the next requests in turn (then 200)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with state.lock:
                state.requests.append(Received(self.path, dict(self.headers.items()), body))
                status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"nope")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook?x=1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def setup(db: Any, settings: Any) -> Iterator[None]:
    sync_role_grants()
    settings.MEDOA_WEBHOOKS_ALLOW_PRIVATE = True
    settings.MEDOA_WEBHOOKS_RETRY_BASE_SECONDS = 0
    settings.MEDOA_WEBHOOKS_TIMEOUT_SECONDS = 5
    for t in (PING, OTHER):
        event_types.register(t)
    services.forget_subscriptions()
    yield
    services.forget_subscriptions()
    for t in (PING, OTHER):
        event_types.unregister(t.name)


@pytest.fixture
def person(department_factory: Any) -> Callable[..., Staff]:
    root = department_factory(code="H", name_zh="示范医院", name_en="Hospital", kind="hospital")
    info = department_factory(code="IT", name_zh="信息中心", name_en="IT", kind="department", parent=root)
    return person_maker(default=info, root=root, totp_secret=TOTP_SECRET)


@pytest.fixture
def it_staff(person: Callable[..., Staff]) -> Staff:
    return person("it", username="it_zhao")
