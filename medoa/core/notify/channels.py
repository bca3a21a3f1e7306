"""The outside channels behind one interface: email (Django's mail backend, SMTP in production),
SMS and IM through webhook gateways. In-app is not a channel here: the inbox row always exists.

A channel's ``send`` raises ``ChannelError`` (``permanent`` when retrying cannot help, such as a
recipient without a phone number); the worker logs it and retries with backoff.

Gateways (settings in ``conf``):

- SMS: ``POST MEDOA_NOTIFY_SMS_URL`` with ``{"phone", "text"}``; with a secret, the headers
  ``X-MedOA-Timestamp`` (Unix seconds) and ``X-MedOA-Signature`` (``sha256=`` + hex HMAC-SHA256
  of ``"{timestamp}.{body}"``) let the gateway check it came from us.
- IM, ``dingtalk`` style (钉钉 custom robot): ``{"msgtype": "text", "text": {"content"}, "at":
  {"atMobiles": [phone]}}``; with a secret, DingTalk's own signature is appended to the URL
  (``timestamp`` in ms and ``sign`` = URL-encoded base64 HMAC-SHA256 of ``"{timestamp}\\n{secret}"``
  keyed with the secret). The answer must be ``{"errcode": 0}``.
- IM, ``wecom`` style (企业微信 group robot; the key is in the URL, WeCom does not sign):
  ``{"msgtype": "text", "text": {"content", "mentioned_mobile_list": [phone]}}``; answer
  ``{"errcode": 0}``.
- IM, ``generic``: ``{"user", "title", "body", "link", "kind"}`` signed like SMS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import send_mail

from medoa.core.org.models import Staff

from . import conf


class ChannelError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Channel(Protocol):
    key: str

    def send(self, *, notification: Any, address: str) -> None: ...


def _text(notification: Any) -> str:
    parts = [notification.title]
    if notification.body:
        parts.append(notification.body)
    if notification.safe_link:
        parts.append(notification.safe_link)
    return "\n".join(parts)


def sign_body(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    raw = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(raw).decode())


def post_json(url: str, payload: dict[str, Any], *, secret: str = "", check_errcode: bool = False) -> None:
    """POST ``payload`` as JSON; any transport error, non-2xx answer, or (``check_errcode``) an
    answer whose ``errcode`` is not 0 raises ``ChannelError``."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "MedOA-notify"}
    if secret:
        ts = int(time.time())
        headers["X-MedOA-Timestamp"] = str(ts)
        headers["X-MedOA-Signature"] = sign_body(secret, body, ts)
    if not url.startswith(("http://", "https://")):
        raise ChannelError(f"gateway URL must be http(s): {url!r}", permanent=True)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 — checked above
    try:
        with urllib.request.urlopen(request, timeout=conf.number("MEDOA_NOTIFY_TIMEOUT", 5)) as resp:  # noqa: S310
            answer = resp.read(65536)
    except urllib.error.HTTPError as exc:
        raise ChannelError(f"gateway answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ChannelError(f"gateway unreachable: {exc}") from None
    if check_errcode:
        try:
            errcode = json.loads(answer or b"{}").get("errcode", 0)
        except (ValueError, AttributeError):
            raise ChannelError("gateway answered something other than JSON") from None
        if errcode != 0:
            raise ChannelError(f"gateway refused: {answer[:300].decode(errors='replace')}")


class EmailChannel:
    key = "email"

    def send(self, *, notification: Any, address: str) -> None:
        if not address:
            raise ChannelError("no e-mail address", permanent=True)
        try:
            send_mail(
                subject=notification.title,
                message=_text(notification),
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[address],
            )
        except Exception as exc:  # SMTP errors come in many classes; all are worth a retry
            raise ChannelError(f"mail: {exc}") from None


class SmsChannel:
    key = "sms"

    def send(self, *, notification: Any, address: str) -> None:
        url = str(conf.setting("MEDOA_NOTIFY_SMS_URL", ""))
        if not url:
            raise ChannelError("MEDOA_NOTIFY_SMS_URL is not set", permanent=True)
        if not address:
            raise ChannelError("no mobile phone number", permanent=True)
        post_json(
            url,
            {"phone": address, "text": _text(notification)},
            secret=str(conf.setting("MEDOA_NOTIFY_SMS_SECRET", "")),
        )


class ImChannel:
    key = "im"

    def send(self, *, notification: Any, address: str) -> None:
        url = str(conf.setting("MEDOA_NOTIFY_IM_URL", ""))
        if not url:
            raise ChannelError("MEDOA_NOTIFY_IM_URL is not set", permanent=True)
        style = str(conf.setting("MEDOA_NOTIFY_IM_STYLE", "generic"))
        secret = str(conf.setting("MEDOA_NOTIFY_IM_SECRET", ""))
        phone = address.partition("|")[2]
        text = _text(notification)
        if style == "dingtalk":
            if secret:
                ts = int(time.time() * 1000)
                url += ("&" if "?" in url else "?") + f"timestamp={ts}&sign={dingtalk_sign(secret, ts)}"
            payload = {
                "msgtype": "text",
                "text": {"content": text},
                "at": {"atMobiles": [phone] if phone else []},
            }
            post_json(url, payload, check_errcode=True)
        elif style == "wecom":
            payload = {
                "msgtype": "text",
                "text": {"content": text, "mentioned_mobile_list": [phone] if phone else []},
            }
            post_json(url, payload, check_errcode=True)
        elif style == "generic":
            payload = {
                "user": address.partition("|")[0],
                "title": notification.title,
                "body": notification.body,
                "link": notification.safe_link,
                "kind": notification.kind,
            }
            post_json(url, payload, secret=secret)
        else:
            raise ChannelError(
                f"MEDOA_NOTIFY_IM_STYLE {style!r} is not dingtalk, wecom or generic", permanent=True
            )


CHANNELS: dict[str, Channel] = {c.key: c for c in (EmailChannel(), SmsChannel(), ImChannel())}


def channel_for(key: str) -> Channel:
    try:
        return CHANNELS[key]
    except KeyError:
        raise ChannelError(f"unknown channel {key!r}", permanent=True) from None


def recipient_addresses(users: Iterable[Any]) -> dict[tuple[int, str], str]:
    """``(user id, channel) → address`` for the given users: one query for their staff records.

    E-mail: the staff record's address, else the account's; SMS: the mobile phone; IM: the
    user name and the phone (``"name|phone"``) so a robot can mention the person.
    """
    users = list(users)
    staff = {s.user_id: s for s in Staff.objects.filter(user_id__in=[u.pk for u in users])}
    out: dict[tuple[int, str], str] = {}
    for u in users:
        s = staff.get(u.pk)
        phone = (s.phone or "") if s is not None else ""
        out[(u.pk, "email")] = (s.email if s is not None and s.email else "") or (u.email or "")
        out[(u.pk, "sms")] = phone
        out[(u.pk, "im")] = f"{u.get_username()}|{phone}"
    return out
