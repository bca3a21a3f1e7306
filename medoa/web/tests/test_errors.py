"""Error pages: friendly text in the active language, a link home, nothing from the request or
the exception."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from .urls_errors import SECRET_TEXT

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing(settings: Any) -> Client:
    settings.DEBUG = False
    settings.ROOT_URLCONF = "medoa.web.tests.urls_errors"
    return Client(raise_request_exception=False)


def _assert_leaks_nothing(html: str) -> None:
    assert SECRET_TEXT not in html
    assert "secret-exception-detail" not in html
    assert "Traceback" not in html
    assert "__test__" not in html
    assert "SECRET_KEY" not in html
    assert "RuntimeError" not in html
    assert '<a class="btn btn-primary" href="/">返回工作台</a>' in html


def test_500_page_shows_nothing_of_the_exception(failing: Client, caplog: Any) -> None:
    response = failing.get("/__test__/explode/?token=abc123")

    assert response.status_code == 500
    html = response.content.decode()
    _assert_leaks_nothing(html)
    assert "abc123" not in html
    assert "<h1>系统出错了</h1>" in html
    assert '<p class="error-code">500</p>' in html
    assert SECRET_TEXT in caplog.text  # the operator's log keeps it


def test_500_page_in_english(failing: Client) -> None:
    failing.cookies["medoa_language"] = "en"

    html = failing.get("/__test__/explode/").content.decode()

    assert "<h1>Something went wrong</h1>" in html
    assert '<a class="btn btn-primary" href="/">Back to the workbench</a>' in html
    assert SECRET_TEXT not in html


def test_500_page_for_a_signed_in_user_is_not_stored(failing: Client, make_staff: Any) -> None:
    failing.force_login(make_staff("doctor").user)

    response = failing.get("/__test__/explode/")

    assert response.status_code == 500
    _assert_leaks_nothing(response.content.decode())
    assert response["Cache-Control"] == "no-store"


def test_404_page_does_not_echo_the_path(failing: Client) -> None:
    response = failing.get("/no/such/<script>alert(1)</script>/page-x9q")

    assert response.status_code == 404
    html = response.content.decode()
    assert "page-x9q" not in html
    assert "alert(1)" not in html
    assert "<h1>页面不存在</h1>" in html
    assert '<a class="btn btn-primary" href="/">返回工作台</a>' in html


def test_403_page(failing: Client) -> None:
    response = failing.get("/__test__/deny/")

    assert response.status_code == 403
    html = response.content.decode()
    _assert_leaks_nothing(html)
    assert "<h1>无权访问</h1>" in html


def test_400_page(failing: Client) -> None:
    response = failing.get("/__test__/suspicious/")

    assert response.status_code == 400
    html = response.content.decode()
    _assert_leaks_nothing(html)
    assert "<h1>请求无效</h1>" in html


def test_csrf_failure_page(make_staff: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    staff = make_staff("doctor")
    client.force_login(staff.user)

    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    assert response.status_code == 403
    html = response.content.decode()
    assert "<h1>表单已过期</h1>" in html
    assert "CSRF" not in html
    assert "medoa_language" not in response.cookies
    staff.user.refresh_from_db()
    assert staff.user.language == ""


def test_error_pages_use_the_public_layout(failing: Client) -> None:
    html = failing.get("/nope/").content.decode()

    assert '<body class="public">' in html
    assert "sidenav" not in html
    assert "<script" not in html
