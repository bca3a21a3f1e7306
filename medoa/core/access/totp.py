"""TOTP (RFC 6238) second factor: secrets, the enrolment QR code, and replay-safe verification."""

from __future__ import annotations

import re

import pyotp
import segno
from django.conf import settings
from django.db.models import Q
from pyotp.exceptions import OTPVerificationError

from .models import User
from .policy import has_role

ISSUER = "MedOA"
# A code is accepted one 30-second step before or after the server's clock.
VALID_WINDOW = 1
CODE_RE = re.compile(r"^\d{6}$")


def totp_secret_new() -> str:
    return pyotp.random_base32()


def totp_uri(*, secret: str, username: str) -> str:
    issuer = str(getattr(settings, "MEDOA_TOTP_ISSUER", ISSUER))
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def totp_qr_data_uri(uri: str) -> str:
    """The otpauth URI as an SVG QR code in a ``data:`` URI (the CSP allows ``img-src data:``)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#000", light="#fff"))


def totp_matching_step(secret: str, code: str) -> int | None:
    """The time step ``code`` belongs to (now ±1 step), or ``None`` when it matches none."""
    code = code.strip().replace(" ", "")
    if not secret or not CODE_RE.match(code):
        return None
    try:
        step = pyotp.TOTP(secret).verify_and_get_timecode(code, valid_window=VALID_WINDOW)
    except OTPVerificationError:
        return None
    return int(step)


def totp_consume(user: User, code: str) -> bool:
    """Verify ``code`` for ``user`` and use it up: a code (or an older one) that was already
    accepted is refused, so an intercepted code cannot be replayed within its window.

    The step is recorded with a conditional UPDATE, so two requests racing with the same code
    get one success between them.
    """
    if not user.has_totp:
        return False
    step = totp_matching_step(user.totp_secret, code)
    if step is None:
        return False
    accepted = (
        User.objects.filter(pk=user.pk)
        .filter(Q(totp_last_step__isnull=True) | Q(totp_last_step__lt=step))
        .update(totp_last_step=step)
    )
    if accepted:
        user.totp_last_step = step
    return bool(accepted)


def totp_enrolment_required(user: object) -> bool:
    """Does ``user`` hold a role that requires TOTP (MEDOA_TOTP_REQUIRED_ROLES) without having it?"""
    if getattr(user, "has_totp", False):
        return False
    return any(has_role(user, code) for code in settings.MEDOA_TOTP_REQUIRED_ROLES)
