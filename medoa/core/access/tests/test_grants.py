"""Seeding role grants from the registry, and the security administrator's grant editor."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from medoa.core.access.choices import DataScope
from medoa.core.access.grants import sync_role_grants
from medoa.core.access.models import RoleGrant
from medoa.core.access.permissions import Permission, permissions, register
from medoa.core.audit.models import AuditEntry
from medoa.core.org.models import Role

pytestmark = pytest.mark.django_db

PROBE = "tests.probe.view"


@pytest.fixture
def probe_permission() -> Iterator[Permission]:
    perm = register(
        Permission(
            PROBE,
            "Probe",
            defaults={"doctor": DataScope.DEPARTMENT, "hr": DataScope.ALL, "no_such_role": DataScope.ALL},
        )
    )
    yield perm
    permissions._items.pop(PROBE, None)


def grants_of(code: str) -> dict[str, tuple[str, bool]]:
    return {
        g.role.code: (g.scope, g.enabled)
        for g in RoleGrant.objects.filter(permission=code).select_related("role")
    }


def test_migrate_seeded_the_access_permissions_for_the_security_administrator() -> None:
    assert grants_of("access.grant.manage") == {"sec_admin": ("all", True)}
    assert grants_of("access.session.manage") == {"sec_admin": ("all", True)}


def test_sync_creates_missing_grants_for_existing_roles_only(probe_permission: Permission) -> None:
    # When
    created = sync_role_grants()
    # Then
    assert created == 2
    assert grants_of(PROBE) == {"doctor": ("department", True), "hr": ("all", True)}


def test_sync_never_overwrites_an_administrators_change(probe_permission: Permission) -> None:
    # Given an administrator widened one grant and took the other away
    sync_role_grants()
    RoleGrant.objects.filter(permission=PROBE, role__code="doctor").update(scope=DataScope.ALL)
    RoleGrant.objects.filter(permission=PROBE, role__code="hr").update(enabled=False)
    # When
    created = sync_role_grants()
    # Then
    assert created == 0
    assert grants_of(PROBE) == {"doctor": ("all", True), "hr": ("all", False)}


def test_sync_picks_up_a_role_created_later(probe_permission: Permission) -> None:
    # Given
    Role.objects.filter(code="hr").delete()
    sync_role_grants()
    # When the role comes back (org's post-migrate hook) and grants are synced again
    out = io.StringIO()
    call_command("sync_role_grants", stdout=out)
    # Then
    assert grants_of(PROBE)["hr"] == ("all", True)
    expected = sum(1 for p in permissions if "hr" in p.defaults)
    assert out.getvalue() == f"created {expected} role grant(s)\n"


# --- the editor ------------------------------------------------------------------------------


def test_the_security_administrator_sees_every_role(client: Client, person: Any, totp_user: Any) -> None:
    # Given
    client.force_login(totp_user)
    # When
    response = client.get("/accounts/grants/")
    # Then
    assert response.status_code == 200
    assert "<code>dept_head</code>" in response.content.decode()


@pytest.mark.parametrize("role", ["doctor", "sys_admin", "audit_admin"])
def test_other_roles_may_not_open_the_editor(client: Client, person: Any, role: str) -> None:
    # Given
    staff = person(role)
    staff.user.totp_secret = "JBSWY3DPEHPK3PXP"
    staff.user.totp_confirmed_at = staff.user.date_joined
    staff.user.save()
    client.force_login(staff.user)
    before = list(RoleGrant.objects.values_list("pk", "scope", "enabled"))
    # When
    listing = client.get("/accounts/grants/")
    change = client.post("/accounts/grants/doctor/", {"scope:access.grant.manage": "all"})
    # Then
    assert (listing.status_code, change.status_code) == (403, 403)
    assert list(RoleGrant.objects.values_list("pk", "scope", "enabled")) == before
    assert not AuditEntry.objects.filter(action="access.grant.changed").exists()


def test_anonymous_is_sent_to_login(client: Client) -> None:
    response = client.get("/accounts/grants/")
    assert response["Location"] == "/accounts/login/?next=/accounts/grants/"


def test_the_editor_changes_scopes_and_audits_before_and_after(
    client: Client, totp_user: Any, probe_permission: Permission
) -> None:
    # Given
    sync_role_grants()
    client.force_login(totp_user)
    page = client.get("/accounts/grants/doctor/").content.decode()
    assert 'name="scope:tests.probe.view"' in page
    form = {f"scope:{p.code}": "" for p in permissions}
    form.update(_current_form("doctor"))
    form["scope:tests.probe.view"] = ""  # take it away
    form["scope:access.session.manage"] = "department_tree"  # grant a new one
    # When
    response = client.post("/accounts/grants/doctor/", form)
    # Then
    assert response.status_code == 302
    assert grants_of(PROBE)["doctor"] == ("department", False)
    assert grants_of("access.session.manage")["doctor"] == ("department_tree", True)
    entry = AuditEntry.objects.get(action="access.grant.changed")
    assert entry.actor_id == totp_user.pk
    assert entry.target_repr == Role.objects.get(code="doctor").name
    assert entry.details == {
        "changes": {
            "access.session.manage": {"before": None, "after": "department_tree"},
            PROBE: {"before": "department", "after": None},
        }
    }


def _current_form(role_code: str) -> dict[str, str]:
    return {
        f"scope:{perm}": scope
        for perm, scope in RoleGrant.objects.filter(role__code=role_code, enabled=True).values_list(
            "permission", "scope"
        )
        if perm in permissions
    }


def test_the_editor_refuses_an_unknown_scope_and_changes_nothing(client: Client, totp_user: Any) -> None:
    # Given
    client.force_login(totp_user)
    before = list(RoleGrant.objects.values_list("pk", "scope", "enabled"))
    # When
    response = client.post("/accounts/grants/doctor/", {"scope:access.grant.manage": "galaxy"})
    # Then
    assert response.status_code == 200
    assert "field-error" in response.content.decode()
    assert list(RoleGrant.objects.values_list("pk", "scope", "enabled")) == before


def test_an_unknown_role_is_404(client: Client, totp_user: Any) -> None:
    client.force_login(totp_user)
    assert client.get("/accounts/grants/no-such-role/").status_code == 404
