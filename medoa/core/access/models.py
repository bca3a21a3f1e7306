"""Accounts, permission grants with data scopes, API tokens, login failures and live sessions."""

from __future__ import annotations

from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from medoa.core.crypto import EncryptedTextField

from .choices import DataScope


class User(AbstractUser):
    """The login account. The person behind it is ``user.staff`` (core.org.Staff)."""

    totp_secret = EncryptedTextField(_("TOTP secret"), blank=True)
    totp_confirmed_at = models.DateTimeField(_("TOTP confirmed"), null=True, blank=True)
    password_changed_at = models.DateTimeField(_("password changed"), null=True, blank=True)
    must_change_password = models.BooleanField(_("must change password"), default=False)
    language = models.CharField(_("language"), max_length=10, blank=True)
    # The TOTP time step of the last code accepted: a code is never accepted twice.
    totp_last_step = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        verbose_name = _("user")  # type: ignore[assignment]
        verbose_name_plural = _("users")  # type: ignore[assignment]

    @property
    def has_totp(self) -> bool:
        return bool(self.totp_secret) and self.totp_confirmed_at is not None

    def set_password(self, raw_password: str | None) -> None:
        """Hash and set the password; every new password restarts the change interval."""
        super().set_password(raw_password)
        self.password_changed_at = timezone.now()

    def check_password(self, raw_password: str | None) -> bool:
        def rehash(raw: str) -> None:
            # A hash upgrade is not a password change: keep the change date.
            changed_at = self.password_changed_at
            self.set_password(raw)
            self.password_changed_at = changed_at
            self._password = None
            self.save(update_fields=["password"])

        return check_password(raw_password, self.password, rehash)


class RoleGrant(models.Model):
    """Role ``role`` grants permission ``permission`` over ``scope``.

    Permission codes come from the permission registry (``medoa.core.access.permissions``); the
    registry's defaults are written here on migrate and an administrator may change them.
    """

    role = models.ForeignKey("org.Role", on_delete=models.CASCADE, related_name="grants")
    permission = models.CharField(_("permission"), max_length=80)
    scope = models.CharField(
        _("data scope"), max_length=16, choices=DataScope.choices, default=DataScope.DEPARTMENT
    )
    # An administrator who takes a default permission away disables the row instead of deleting
    # it, so that ``sync_role_grants`` (which only creates missing rows) never brings it back.
    enabled = models.BooleanField(_("granted"), default=True)

    class Meta:
        verbose_name = _("role grant")
        verbose_name_plural = _("role grants")
        constraints = [models.UniqueConstraint(fields=["role", "permission"], name="access_rolegrant_unique")]

    def __str__(self) -> str:
        return f"{self.role_id}:{self.permission}:{self.scope}"


class ApiToken(models.Model):
    """A bearer token for a person. Only the SHA-256 of the secret is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    name = models.CharField(_("name"), max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id})"


class SystemApiKey(models.Model):
    """A key for another system (HIS, LIS, an HR feed …), scoped to what it may send.

    The raw key is shown once at creation; only its SHA-256 is stored. ``scopes`` are patterns
    such as ``hl7:adt``, ``hl7:oru``, ``fhir:Observation`` or ``events:publish:hr.*``.
    """

    name = models.CharField(_("name"), max_length=100)
    system = models.CharField(_("system"), max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16, unique=True)
    scopes = models.JSONField(_("scopes"), default=list)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("created by")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("revoked by")
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    last_used_address = models.GenericIPAddressField(_("last used from"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("system API key")
        verbose_name_plural = _("system API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class LoginFailure(models.Model):
    """One failed sign-in, counted per username and per client address for lockout."""

    username = models.CharField(max_length=150, db_index=True)
    client_address = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("login failure")
        verbose_name_plural = _("login failures")

    def __str__(self) -> str:
        return f"{self.username}@{self.client_address} {self.at:%Y-%m-%d %H:%M}"


class UserSession(models.Model):
    """A live browser session of a user, so logout and deactivation can end all of them."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="live_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("user session")
        verbose_name_plural = _("user sessions")

    def __str__(self) -> str:
        return f"{self.user_id}:{self.session_key[:6]}…"
