"""The HTTP side of webhooks: which URLs are allowed, the signature, and one POST.

Only ``http`` and ``https`` URLs; the host's addresses are resolved and every one must be public
(no loopback, private, link-local, multicast, reserved or unspecified address — the usual
server-side request forgery targets such as ``127.0.0.1``, ``10.x``, ``169.254.169.254``) unless
``MEDOA_WEBHOOKS_ALLOW_PRIVATE`` is set. The check runs when a subscription is saved and again at
every send, and the connection goes to the address that was checked (a DNS answer that changes in
between cannot redirect it). Redirects are not followed: only a 2xx answer counts as delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from medoa.core.errors import fmt

DEFAULT_TIMEOUT = 10.0
MAX_ERROR = 2000
MAX_RESPONSE_READ = 64 * 1024
USER_AGENT = "MedOA-Webhooks/1"


class UrlRefused(ValueError):
    """A URL webhooks may not call; ``message`` (lazy, translated where it is shown) says why."""

    def __init__(self, message: Any, params: dict[str, Any] | None = None) -> None:
        self.message = fmt(message, params or {})
        super().__init__(str(self.message))

    def __str__(self) -> str:
        return str(self.message)


def allow_private() -> bool:
    return bool(getattr(settings, "MEDOA_WEBHOOKS_ALLOW_PRIVATE", False))


def timeout_seconds() -> float:
    return float(getattr(settings, "MEDOA_WEBHOOKS_TIMEOUT_SECONDS", DEFAULT_TIMEOUT))


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body under the secret>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"))
    )


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


def check_url_syntax(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(_("The URL is not valid: %(error)s."), {"error": str(exc)}) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused(_("Only http and https URLs are allowed."))
    host = parts.hostname or ""
    if not host:
        raise UrlRefused(_("The URL has no host."))
    if parts.username or parts.password:
        raise UrlRefused(_("The URL may not carry a user name or password; sign with the secret instead."))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port or (443 if scheme == "https" else 80), path


def resolve(url: str) -> Target:
    """The URL's parts and the address to connect to; ``UrlRefused`` when it is not allowed."""
    scheme, host, port, path = check_url_syntax(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(
            _("The host %(host)s cannot be resolved (%(error)s)."), {"host": host, "error": str(exc)}
        ) from None
    addresses = []
    for info in infos:
        address = str(info[4][0]).split("%")[0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UrlRefused(_("The host %(host)s has no address."), {"host": host})
    if not allow_private():
        for address in addresses:
            if not _public(ipaddress.ip_address(address)):
                raise UrlRefused(
                    _(
                        "The host %(host)s resolves to %(address)s, a private, loopback or reserved "
                        "address; webhooks only call public addresses."
                    ),
                    {"host": host, "address": address},
                )
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = target.address
        self._ssl_context = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._ssl_context.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None
    duration_ms: int
    error: str = ""


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float | None = None) -> SendResult:
    """POST ``body`` to ``url``; never raises (a refused URL, a connection error or a non-2xx
    answer is a failed ``SendResult``)."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = resolve(url)
    except UrlRefused as exc:
        return SendResult(False, None, took(), str(exc))
    wait = timeout if timeout is not None else timeout_seconds()
    conn: Any
    if target.scheme == "https":
        conn = _PinnedHTTPSConnection(target, wait, ssl.create_default_context())
    else:
        conn = _PinnedHTTPConnection(target, wait)
    try:
        conn.request(
            "POST",
            target.path,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        response = conn.getresponse()
        text = response.read(MAX_RESPONSE_READ)
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        return SendResult(False, None, took(), f"{type(exc).__name__}: {exc}"[:MAX_ERROR])
    finally:
        conn.close()
    if 200 <= status < 300:
        return SendResult(True, status, took())
    snippet = text[:300].decode("utf-8", "replace")
    return SendResult(False, status, took(), f"HTTP {status}: {snippet}"[:MAX_ERROR])
