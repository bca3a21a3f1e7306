"""Write use cases of access: signing in (with lockout), sessions, tokens, TOTP, passwords, grants.

Every attempt to sign in — through the login page or ``POST /api/v1/auth/token`` — goes through
``login_password_check`` / ``login_otp_check``: they count failures per username and per client
address, refuse everything while either count is at the limit (even the right password), and write
an audit entry for every failure and success. Callers show the same ``LOGIN_FAILED`` message for
every kind of failure, so that the answer never tells whether a username exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from medoa.core.audit.choices import Outcome
from medoa.core.audit.services import audit_record
from medoa.core.org.choices import StaffStatus
from medoa.core.org.models import Role, Staff

from .cache import (
    access_cache_clear,
    access_cache_forget_session,
    access_cache_forget_token,
    access_cache_forget_user,
)
from .choices import DataScope
from .models import ApiToken, LoginFailure, RoleGrant, User, UserSession
from .passwords import password_expired
from .permissions import permissions
from .policy import forget_principal
from .tokens import api_token_issue
from .totp import totp_consume, totp_enrolment_required

LOGIN_FAILED = _(
    "Sign-in failed: the username, password or verification code is wrong, or the account is "
    "temporarily locked after too many failures. Please try again later."
)


FAILURE_RETENTION = timedelta(days=1)


class LoginBlocked(Exception):
    """The credentials were right, but the account must first act in the web application (enrol
    TOTP, change its password); ``message`` says what, in a lazy translation."""

    def __init__(self, reason: FailureReason, message: Any) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.message = message


class FailureReason(StrEnum):
    UNKNOWN_USER = "unknown_user"
    BAD_PASSWORD = "bad_password"
    INACTIVE = "inactive"
    LOCKED = "locked"
    OTP_MISSING = "otp_missing"
    OTP_INVALID = "otp_invalid"
    TOTP_NOT_ENROLLED = "totp_not_enrolled"
    PASSWORD_EXPIRED = "password_expired"


@dataclass(frozen=True)
class PasswordCheck:
    """The outcome of the first step: ``user`` is set when the password was right and the account
    may sign in; ``needs_otp`` then says whether a TOTP code must follow."""

    user: User | None
    needs_otp: bool = False
    reason: FailureReason | None = None


# --- lockout ------------------------------------------------------------------------------------


def _lockout_window() -> timedelta:
    return timedelta(minutes=settings.MEDOA_LOGIN_LOCKOUT_MINUTES)


def login_is_locked(*, username: str, client_address: str | None) -> bool:
    """Have the account or the client address reached the failure limit within the window?"""
    since = timezone.now() - _lockout_window()
    limit = settings.MEDOA_LOGIN_MAX_FAILURES
    match = Q(username=username)
    counters = {"by_user": Count("pk", filter=Q(username=username))}
    if client_address:
        match |= Q(client_address=client_address)
        counters["by_address"] = Count("pk", filter=Q(client_address=client_address))
    counts = LoginFailure.objects.filter(match, at__gte=since).aggregate(**counters)
    return any((value or 0) >= limit for value in counts.values())


@transaction.atomic
def login_failure_record(
    *, username: str, client_address: str | None, reason: FailureReason, channel: str, counted: bool
) -> None:
    """Audit one failed attempt; ``counted`` failures also count towards the lockout."""
    if counted:
        now = timezone.now()
        # Old rows count for nothing: drop them as new ones arrive, so the table stays small.
        LoginFailure.objects.filter(at__lt=now - max(_lockout_window(), FAILURE_RETENTION)).delete()
        LoginFailure.objects.create(username=username, client_address=client_address, at=now)
    audit_record(
        actor=None,
        actor_name=username,
        action="access.login.failed",
        outcome=Outcome.FAILURE,
        client_address=client_address,
        details={"reason": str(reason), "channel": channel},
    )


def _normalise_username(username: str) -> str:
    # NUL cannot be stored in PostgreSQL text; such a name matches no account but is still counted.
    return username.strip().replace("\x00", "\ufffd")[:150]


def _may_sign_in(user: User) -> bool:
    if not user.is_active:
        return False
    status = Staff.objects.filter(user_id=user.pk).values_list("status", flat=True).first()
    return status is None or status == StaffStatus.ACTIVE


def login_password_check(
    *, username: str, password: str, client_address: str | None, channel: str
) -> PasswordCheck:
    """Step one of signing in. The password is hashed whatever happens (a dummy hash for unknown
    usernames), so that the time taken does not tell which case applied."""
    username = _normalise_username(username)
    locked = login_is_locked(username=username, client_address=client_address)
    user = User.objects.filter(username=username).first()
    if user is None:
        make_password(password)
        password_ok = False
    else:
        password_ok = user.check_password(password)
    reason: FailureReason | None = None
    if locked:
        reason = FailureReason.LOCKED
    elif user is None:
        reason = FailureReason.UNKNOWN_USER
    elif not password_ok:
        reason = FailureReason.BAD_PASSWORD
    elif not _may_sign_in(user):
        reason = FailureReason.INACTIVE
    if reason is not None or user is None:
        reason = reason or FailureReason.UNKNOWN_USER
        login_failure_record(
            username=username,
            client_address=client_address,
            reason=reason,
            channel=channel,
            counted=reason != FailureReason.LOCKED,
        )
        return PasswordCheck(user=None, reason=reason)
    return PasswordCheck(user=user, needs_otp=user.has_totp)


def login_otp_check(*, user: User, code: str | None, client_address: str | None, channel: str) -> bool:
    """Step two for accounts with TOTP: the lockout applies here too, and a code is used once."""
    locked = login_is_locked(username=user.username, client_address=client_address)
    reason: FailureReason | None = None
    if locked:
        reason = FailureReason.LOCKED
    elif not code:
        reason = FailureReason.OTP_MISSING
    elif not totp_consume(user, code):
        reason = FailureReason.OTP_INVALID
    if reason is None:
        return True
    login_failure_record(
        username=user.username,
        client_address=client_address,
        reason=reason,
        channel=channel,
        counted=reason != FailureReason.LOCKED,
    )
    return False


@transaction.atomic
def login_succeeded(*, user: User, client_address: str | None, channel: str, second_factor: bool) -> None:
    """Record a completed sign-in: the account's failure count starts again."""
    LoginFailure.objects.filter(username=user.username).delete()
    audit_record(
        actor=user,
        action="access.login.succeeded",
        target=user,
        client_address=client_address,
        details={"channel": channel, "second_factor": second_factor},
    )


def credentials_authenticate(
    *, username: str, password: str, otp: str | None, client_address: str | None, channel: str
) -> User | None:
    """Both steps at once (the API): the user, or ``None`` for every kind of failure.

    Raises ``LoginBlocked`` when the credentials were right but the account may not use the API
    yet: its role requires TOTP and it has none, or its password must be changed first.
    """
    check = login_password_check(
        username=username, password=password, client_address=client_address, channel=channel
    )
    if check.user is None:
        return None
    if check.needs_otp and not login_otp_check(
        user=check.user, code=otp, client_address=client_address, channel=channel
    ):
        return None
    blocked: LoginBlocked | None = None
    if totp_enrolment_required(check.user):
        blocked = LoginBlocked(
            FailureReason.TOTP_NOT_ENROLLED,
            _("Your role requires two-step verification: set it up in the web application first."),
        )
    elif password_expired(check.user):
        blocked = LoginBlocked(
            FailureReason.PASSWORD_EXPIRED, _("Your password must be changed in the web application first.")
        )
    if blocked is not None:
        login_failure_record(
            username=check.user.username,
            client_address=client_address,
            reason=blocked.reason,
            channel=channel,
            counted=False,
        )
        raise blocked
    login_succeeded(
        user=check.user, client_address=client_address, channel=channel, second_factor=check.needs_otp
    )
    return check.user


# --- sessions -----------------------------------------------------------------------------------


def user_session_record(
    *, user: Any, session_key: str, client_address: str | None, user_agent: str
) -> UserSession:
    """Remember a new browser session of ``user`` (called when Django signs a session in)."""
    session, _created = UserSession.objects.update_or_create(
        session_key=session_key,
        defaults={"user": user, "client_address": client_address, "user_agent": user_agent[:300]},
    )
    access_cache_forget_session(session_key)
    return session


def user_session_rekey(*, old_key: str, new_key: str) -> None:
    """The session's key was rotated (password change): keep it recorded as live."""
    UserSession.objects.filter(session_key=old_key).update(session_key=new_key)
    access_cache_forget_session(old_key)


def user_session_forget(*, session_key: str) -> None:
    UserSession.objects.filter(session_key=session_key).delete()
    access_cache_forget_session(session_key)


@transaction.atomic
def user_sessions_end(*, user: Any, revoke_tokens: bool = False, keep_session_key: str | None = None) -> int:
    """End every browser session of ``user`` (except ``keep_session_key``); optionally revoke
    every API token too (deactivation does). Returns the number of sessions ended."""
    live = UserSession.objects.filter(user=user)
    if keep_session_key:
        live = live.exclude(session_key=keep_session_key)
    keys = list(live.values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    live.delete()
    if revoke_tokens:
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    for key in keys:
        access_cache_forget_session(key)
    access_cache_forget_user(user)
    return len(keys)


@transaction.atomic
def logout_all(*, user: User, client_address: str | None) -> int:
    """Sign ``user`` out everywhere: every browser session ends (API tokens stay)."""
    ended = user_sessions_end(user=user)
    audit_record(
        actor=user,
        action="access.logout",
        target=user,
        client_address=client_address,
        details={"sessions_ended": ended},
    )
    return ended


@transaction.atomic
def session_expire(*, user: User, session_key: str, reason: str) -> None:
    """End one session that the guard found idle or no longer allowed."""
    Session.objects.filter(session_key=session_key).delete()
    UserSession.objects.filter(session_key=session_key).delete()
    access_cache_forget_session(session_key)
    audit_record(actor=user, action="access.session.expired", target=user, details={"reason": reason})


@transaction.atomic
def user_sessions_end_by_admin(*, actor: User, user: User) -> int:
    """A security administrator ends every session and token of ``user``."""
    ended = user_sessions_end(user=user, revoke_tokens=True)
    audit_record(
        actor=actor, action="access.session.ended_by_admin", target=user, details={"sessions_ended": ended}
    )
    return ended


# --- API tokens ---------------------------------------------------------------------------------


@transaction.atomic
def api_token_create(*, user: User, client_address: str | None, name: str = "") -> tuple[str, ApiToken]:
    raw, token = api_token_issue(user=user, name=name, client_address=client_address)
    audit_record(
        actor=user,
        action="access.token.issued",
        target=("access.apitoken", token.pk, token.prefix),
        client_address=client_address,
        details={"expires_at": token.expires_at.isoformat()},
    )
    return raw, token


@transaction.atomic
def api_token_revoke(*, user: User, token: ApiToken) -> None:
    if token.user_id != user.pk:
        raise ValueError("a token can only be revoked by its owner")
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    access_cache_forget_token(token.pk)
    audit_record(
        actor=user, action="access.token.revoked", target=("access.apitoken", token.pk, token.prefix)
    )


# --- TOTP ---------------------------------------------------------------------------------------


@transaction.atomic
def totp_enable(*, user: User, secret: str, step: int) -> None:
    """Enrol ``user`` with a confirmed secret; ``step`` is the confirming code's time step, which
    can therefore not be used again to sign in."""
    user.totp_secret = secret
    user.totp_confirmed_at = timezone.now()
    user.totp_last_step = step
    user.save(update_fields=["totp_secret", "totp_confirmed_at", "totp_last_step"])
    access_cache_forget_user(user)
    audit_record(actor=user, action="access.totp.enabled", target=user)


@transaction.atomic
def totp_set(*, user: User, secret: str, actor: User | None = None) -> None:
    """Set a confirmed TOTP secret without a code (the demo loader, administrators' tooling)."""
    user.totp_secret = secret
    user.totp_confirmed_at = timezone.now()
    user.totp_last_step = None
    user.save(update_fields=["totp_secret", "totp_confirmed_at", "totp_last_step"])
    access_cache_forget_user(user)
    audit_record(actor=actor, action="access.totp.set", target=user)


# --- passwords ----------------------------------------------------------------------------------


@transaction.atomic
def password_change(
    *, user: User, new_password: str, actor: User | None = None, keep_session_key: str | None = None
) -> None:
    """Set a new password after checking it against the policy (raises ``ValidationError``).

    Every other session of the user ends; the change date restarts the 90-day interval.
    """
    validate_password(new_password, user)
    user.set_password(new_password)
    user.must_change_password = False
    user.save(update_fields=["password", "password_changed_at", "must_change_password"])
    access_cache_forget_user(user)
    ended = user_sessions_end(user=user, keep_session_key=keep_session_key)
    audit_record(
        actor=actor or user,
        action="access.password.changed",
        target=user,
        details={"other_sessions_ended": ended},
    )


# --- role grants --------------------------------------------------------------------------------


@transaction.atomic
def role_grants_set(*, actor: User, role: Role, scopes: dict[str, DataScope | None]) -> dict[str, Any]:
    """Set the scope of each registered permission in ``scopes`` for ``role`` (``None`` takes the
    permission away). Returns the changes, which are audited with their before and after."""
    unknown = sorted(code for code in scopes if code not in permissions)
    if unknown:
        raise ValueError(f"unknown permissions: {', '.join(unknown)}")
    current = {g.permission: g for g in RoleGrant.objects.select_for_update().filter(role=role)}
    changes: dict[str, Any] = {}
    for code, scope in sorted(scopes.items()):
        grant = current.get(code)
        before = grant.scope if grant is not None and grant.enabled else None
        after = str(scope) if scope is not None else None
        if before == after:
            continue
        changes[code] = {"before": before, "after": after}
        if after is None:
            if grant is not None:
                grant.enabled = False
                grant.save(update_fields=["enabled"])
        elif grant is None:
            RoleGrant.objects.create(role=role, permission=code, scope=after)
        else:
            grant.scope = after
            grant.enabled = True
            grant.save(update_fields=["scope", "enabled"])
    if changes:
        audit_record(actor=actor, action="access.grant.changed", target=role, details={"changes": changes})
        # Every holder of the role is affected: drop this process's principals (other processes
        # follow within MEDOA_ACCESS_CACHE_SECONDS).
        access_cache_clear()
    forget_principal(actor)
    return changes
