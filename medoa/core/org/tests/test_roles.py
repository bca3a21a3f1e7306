"""The built-in roles' post_migrate hook, also under ``migrate <one app>`` on an empty database."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps as global_apps
from django.db.migrations.state import ProjectState

from medoa.core.access.grants import sync_role_grants_after_migrate
from medoa.core.org.models import Role
from medoa.core.org.roles import BUILTIN_ROLE_CODES, ensure_builtin_roles

pytestmark = pytest.mark.django_db


def test_the_hooks_skip_while_the_role_table_is_not_migrated(django_assert_num_queries: Any) -> None:
    # Given the migration state of `migrate contenttypes` on an empty database: no org models yet
    empty_state = ProjectState().apps
    # When / Then: neither hook touches the database
    with django_assert_num_queries(0):
        ensure_builtin_roles(apps=empty_state, using="default")
        sync_role_grants_after_migrate(apps=empty_state, using="default")


def test_the_hook_creates_the_missing_built_in_roles() -> None:
    Role.objects.filter(code="nurse").delete()
    ensure_builtin_roles(apps=global_apps, using="default")
    assert set(Role.objects.values_list("code", flat=True)) >= BUILTIN_ROLE_CODES
