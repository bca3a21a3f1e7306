"""The demo loaders run all or nothing (apart from test_demo.py, whose tests share one load)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from medoa.core.org.models import Department, Staff
from medoa.core.registries import DemoLoader, demo_loaders
from medoa.core.runtime.demo import demo_is_loaded, run_demo_loaders

PASSWORD = "Demo@Pass-2026"


@pytest.mark.slow  # loads the whole demo hospital (12–13 s): in CI and make test-all
@pytest.mark.django_db
def test_loading_is_all_or_nothing() -> None:
    # given a later loader that fails
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("loader failed")

    loaders = [*demo_loaders, DemoLoader("broken", broken, order=99)]

    # when the demo loads, then the failure surfaces and nothing of the org loader stays
    with pytest.raises(RuntimeError, match="loader failed"):
        run_demo_loaders(password=PASSWORD, loaders=loaders)
    assert Department.objects.count() == 0
    assert Staff.objects.count() == 0
    assert get_user_model().objects.count() == 0
    assert demo_is_loaded() is False
