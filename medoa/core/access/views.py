"""Sign-in pages (login, TOTP, password change, logout) and the security administrator's pages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, update_session_auth_hash
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from medoa.core.context import client_address_of
from medoa.core.org.models import Role

from .forms import LoginForm, OtpForm, PasswordChangeForm, RoleGrantsForm
from .models import User
from .passwords import password_expired
from .policy import has_perm, has_role
from .selectors import (
    GRANT_MANAGE,
    SESSION_MANAGE,
    permission_list,
    role_grants_get,
    role_list_with_grants,
    usersession_list,
)
from .services import (
    LOGIN_FAILED,
    login_otp_check,
    login_password_check,
    login_succeeded,
    logout_all,
    password_change,
    role_grants_set,
    totp_enable,
    user_session_forget,
    user_session_rekey,
    user_sessions_end_by_admin,
)
from .sessions import (
    TOTP_SETUP_KEY,
    pending_login_clear,
    pending_login_get,
    pending_login_set,
)
from .totp import totp_matching_step, totp_qr_data_uri, totp_secret_new, totp_uri

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _safe_next(request: HttpRequest, candidate: str | None = None) -> str:
    """Where to go after signing in: the ``next`` parameter if it stays on this site."""
    url = candidate if candidate is not None else request.POST.get("next") or request.GET.get("next") or ""
    if (
        url
        and url.isprintable()
        and url_has_allowed_host_and_scheme(
            url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return url
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _notice(reason: str) -> str:
    notices = {
        "idle": _("You were signed out after a period of inactivity. Please sign in again."),
        "ended": _("Your session has ended. Please sign in again."),
        "logout": _("You have signed out."),
        "expired": _("The sign-in took too long. Please start again."),
    }
    return notices.get(reason, "")


def _complete_login(request: HttpRequest, user: User, *, second_factor: bool) -> None:
    session = request.session
    pending_login_clear(session)
    session.pop(TOTP_SETUP_KEY, None)
    if SESSION_KEY in session:
        # Somebody was signed in in this browser: end that session completely first.
        if session.session_key:
            user_session_forget(session_key=session.session_key)
        session.flush()
    # login() gives the session a new key (no fixation); the user_logged_in receiver records it.
    auth_login(request, user, backend=MODEL_BACKEND)
    login_succeeded(
        user=user, client_address=client_address_of(request), channel="web", second_factor=second_factor
    )


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    if request.method == "GET" and request.user.is_authenticated:
        return redirect(next_url)
    form = LoginForm(request.POST if request.method == "POST" else None)
    error = ""
    if request.method == "POST" and form.is_valid():
        check = login_password_check(
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
            client_address=client_address_of(request),
            channel="web",
        )
        if check.user is None:
            error = str(LOGIN_FAILED)
        elif check.needs_otp:
            pending_login_set(request.session, user_id=check.user.pk, next_url=next_url)
            return redirect("access:totp_verify")
        else:
            _complete_login(request, check.user, second_factor=False)
            return redirect(next_url)
    context = {
        "form": form,
        "error": error,
        "next": next_url,
        "notice": _notice(request.GET.get("reason", "")),
    }
    return render(request, "access/login.html", context)


@sensitive_post_parameters("otp")
@never_cache
@require_http_methods(["GET", "POST"])
def totp_verify(request: HttpRequest) -> HttpResponse:
    """Second step for accounts with TOTP: the code from the authenticator app."""
    pending = pending_login_get(request.session)
    user = User.objects.filter(pk=pending.user_id, is_active=True).first() if pending else None
    if pending is None or user is None:
        return redirect(f"{resolve_url('access:login')}?reason=expired")
    form = OtpForm(request.POST if request.method == "POST" else None)
    error = ""
    if request.method == "POST" and form.is_valid():
        if login_otp_check(
            user=user, code=form.cleaned_data["otp"], client_address=client_address_of(request), channel="web"
        ):
            _complete_login(request, user, second_factor=True)
            return redirect(_safe_next(request, pending.next_url))
        error = str(LOGIN_FAILED)
    return render(request, "access/totp_verify.html", {"form": form, "error": error})


@sensitive_post_parameters("otp")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def totp_setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: QR code and secret, confirmed by one code."""
    user: Any = request.user
    if user.has_totp:
        return render(request, "access/totp_setup.html", {"enabled": True})
    secret = request.session.get(TOTP_SETUP_KEY)
    if not isinstance(secret, str) or not secret:
        secret = totp_secret_new()
        request.session[TOTP_SETUP_KEY] = secret
    form = OtpForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        step = totp_matching_step(secret, form.cleaned_data["otp"])
        if step is not None:
            totp_enable(user=user, secret=secret, step=step)
            request.session.pop(TOTP_SETUP_KEY, None)
            messages.success(
                request, _("Two-step verification is on. You will need a code at every sign-in.")
            )
            return redirect(settings.LOGIN_REDIRECT_URL)
        form.add_error("otp", _("The code does not match. Check the time on your phone and try again."))
    uri = totp_uri(secret=secret, username=user.get_username())
    context = {
        "enabled": False,
        "form": form,
        "qr": totp_qr_data_uri(uri),
        "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "uri": uri,
        "required": any(has_role(user, code) for code in settings.MEDOA_TOTP_REQUIRED_ROLES),
    }
    return render(request, "access/totp_setup.html", context)


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def password_change_view(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = PasswordChangeForm(user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        old_key = str(request.session.session_key or "")
        try:
            password_change(
                user=user, new_password=form.cleaned_data["new_password1"], keep_session_key=old_key
            )
        except ValidationError as exc:
            form.add_error("new_password1", exc)
        else:
            update_session_auth_hash(request, user)  # rotates the session key
            user_session_rekey(old_key=old_key, new_key=str(request.session.session_key))
            messages.success(request, _("Your password has been changed. Other sessions were signed out."))
            return redirect(settings.LOGIN_REDIRECT_URL)
    context = {"form": form, "forced": password_expired(user)}
    return render(request, "access/password_change.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def logout(request: HttpRequest) -> HttpResponse:
    """GET asks for confirmation; POST signs the user out of every browser session."""
    user: Any = request.user
    if not user.is_authenticated:
        return redirect("access:login")
    if request.method == "GET":
        return render(request, "access/logout.html", {})
    logout_all(user=user, client_address=client_address_of(request))
    auth_logout(request)
    return redirect(f"{resolve_url('access:login')}?reason=logout")


# --- security administrator ------------------------------------------------------------------


@never_cache
@login_required
def rolegrant_list(request: HttpRequest) -> HttpResponse:
    if not has_perm(request.user, GRANT_MANAGE):
        raise PermissionDenied
    roles = role_list_with_grants(user=request.user)
    return render(request, "access/rolegrant_list.html", {"roles": roles})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def rolegrant_edit(request: HttpRequest, role_code: str) -> HttpResponse:
    if not has_perm(request.user, GRANT_MANAGE):
        raise PermissionDenied
    role = get_object_or_404(Role, code=role_code)
    rows = permission_list()
    current = role_grants_get(user=request.user, role=role)
    form = RoleGrantsForm(
        request.POST if request.method == "POST" else None, permission_rows=rows, current=current
    )
    if request.method == "POST" and form.is_valid():
        actor: Any = request.user
        changes = role_grants_set(actor=actor, role=role, scopes=form.scopes())
        if changes:
            messages.success(request, _("Saved %(count)d change(s).") % {"count": len(changes)})
        else:
            messages.info(request, _("Nothing changed."))
        return redirect("access:rolegrant_edit", role_code=role.code)
    table = [
        {
            "permission": perm,
            "field": form[f"scope:{perm.code}"],
            "defaults": perm.defaults.get(role.code) or perm.defaults.get("*"),
        }
        for perm in rows
    ]
    return render(request, "access/rolegrant_edit.html", {"role": role, "form": form, "table": table})


@never_cache
@login_required
def usersession_list_view(request: HttpRequest) -> HttpResponse:
    if not has_perm(request.user, SESSION_MANAGE):
        raise PermissionDenied
    query = request.GET.get("q", "").replace("\x00", "").strip()[:100]
    paginator = Paginator(usersession_list(user=request.user, username=query), 50)
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "access/usersession_list.html", {"page": page, "q": query})


@login_required
@require_POST
def usersession_end(request: HttpRequest, user_id: int) -> HttpResponse:
    if not has_perm(request.user, SESSION_MANAGE):
        raise PermissionDenied
    if not usersession_list(user=request.user).filter(user_id=user_id).exists():
        raise Http404
    target = get_object_or_404(User, pk=user_id)
    actor: Any = request.user
    ended = user_sessions_end_by_admin(actor=actor, user=target)
    messages.success(request, _("Ended %(count)d session(s) of %(user)s.") % {"count": ended, "user": target})
    return redirect("access:usersession_list")
