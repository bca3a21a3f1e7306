"""Helpers of the access tests."""

from __future__ import annotations

import time
from typing import Any

import pyotp
from django.test import Client
from django.utils.translation import gettext, override

TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
LOGIN_URL = "/accounts/login/"
VERIFY_URL = "/accounts/login/verify/"
LOGOUT_URL = "/accounts/logout/"


def totp_code(offset_steps: int = 0, secret: str = TOTP_SECRET) -> str:
    """The code of the current time step (or ``offset_steps`` away from it)."""
    return pyotp.TOTP(secret).at(time.time() + offset_steps * 30)


def login(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post(LOGIN_URL, {"username": username, "password": password}, **extra)


def in_both(msgid: str) -> tuple[str, str]:
    """``msgid`` in Chinese and in English, as the API answers it."""
    with override("zh-hans"):
        zh = gettext(msgid)
    with override("en"):
        en = gettext(msgid)
    return zh, en
