"""Security headers on every response, no-store for signed-in users and the API, the language."""

from __future__ import annotations

from typing import Any

import pytest

from medoa.core.access.models import User
from medoa.web.middleware import CSP, DOCS_CSP, PERMISSIONS_POLICY

pytestmark = pytest.mark.django_db


def _assert_baseline_headers(response: Any) -> None:
    assert response["Content-Security-Policy"] == CSP
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Permissions-Policy"] == PERMISSIONS_POLICY
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


def test_csp_allows_only_our_own_scripts_and_styles() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in CSP


def test_anonymous_page_has_the_headers_but_may_be_cached(client: Any) -> None:
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    _assert_baseline_headers(response)
    assert "Cache-Control" not in response


def test_signed_in_pages_are_never_stored(make_staff: Any, signed_in: Any) -> None:
    client = signed_in(make_staff("doctor"))

    for url in ("/", "/notifications/", "/no-such-page/"):
        response = client.get(url)
        _assert_baseline_headers(response)
        assert response["Cache-Control"] == "no-store"
        assert response["Pragma"] == "no-cache"


def test_api_answers_are_never_stored(client: Any) -> None:
    response = client.get("/api/v1/notifications")

    assert response.status_code == 401
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Security-Policy"] == CSP


def test_only_the_api_docs_get_the_looser_policy(client: Any) -> None:
    response = client.get("/api/v1/docs")

    assert response["Content-Security-Policy"] == DOCS_CSP
    assert client.get("/api/v1/docsX")["Content-Security-Policy"] == CSP


def test_static_files_are_cacheable_even_when_signed_in(make_staff: Any, signed_in: Any) -> None:
    client = signed_in(make_staff("doctor"))

    response = client.get("/static/web/medoa.css")

    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


# --- language -----------------------------------------------------------------------------------


def test_chinese_by_default_whatever_the_browser_asks_for(make_staff: Any, signed_in: Any) -> None:
    client = signed_in(make_staff("doctor"))

    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")

    assert response["Content-Language"] == "zh-hans"
    assert '<html lang="zh-Hans">' in response.content.decode()
    assert "<h1>医生工作台</h1>" in response.content.decode()


def test_the_cookie_selects_english(make_staff: Any, signed_in: Any) -> None:
    client = signed_in(make_staff("doctor"))
    client.cookies["medoa_language"] = "en"

    response = client.get("/")

    assert response["Content-Language"] == "en"
    assert "<h1>Doctor&#x27;s workbench</h1>" in response.content.decode()


def test_an_unknown_cookie_value_falls_back_to_chinese(client: Any) -> None:
    client.cookies["medoa_language"] = "fr"
    assert client.get("/healthz")["Content-Language"] == "zh-hans"


def test_without_cookie_the_users_stored_language_applies(make_staff: Any, signed_in: Any) -> None:
    staff = make_staff("doctor")
    User.objects.filter(pk=staff.user_id).update(language="en")
    staff.user.refresh_from_db()
    client = signed_in(staff)

    response = client.get("/")

    assert response["Content-Language"] == "en"
    assert "<h1>Doctor&#x27;s workbench</h1>" in response.content.decode()


def test_the_cookie_wins_over_the_stored_language(make_staff: Any, signed_in: Any) -> None:
    staff = make_staff("doctor")
    User.objects.filter(pk=staff.user_id).update(language="en")
    client = signed_in(staff)
    client.cookies["medoa_language"] = "zh-hans"

    assert client.get("/")["Content-Language"] == "zh-hans"


def test_switching_language_sets_the_cookie_and_the_users_choice(make_staff: Any, signed_in: Any) -> None:
    staff = make_staff("doctor")
    client = signed_in(staff)

    response = client.post("/i18n/setlang/", {"language": "en", "next": "/notifications/?show=unread"})

    assert response.status_code == 302
    assert response["Location"] == "/notifications/?show=unread"
    assert response.cookies["medoa_language"].value == "en"
    staff.user.refresh_from_db()
    assert staff.user.language == "en"
    page = client.get("/notifications/")
    assert "<h1>Notifications</h1>" in page.content.decode()

    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    staff.user.refresh_from_db()
    assert staff.user.language == "zh-hans"
    assert "<h1>通知</h1>" in client.get("/notifications/").content.decode()


def test_switching_language_when_signed_out_sets_only_the_cookie(client: Any, user_factory: Any) -> None:
    user = user_factory()

    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    assert response.cookies["medoa_language"].value == "en"
    user.refresh_from_db()
    assert user.language == ""


def test_an_unsupported_language_changes_nothing(make_staff: Any, signed_in: Any) -> None:
    staff = make_staff("doctor")
    client = signed_in(staff)

    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/"})

    assert response.status_code == 302
    assert "medoa_language" not in response.cookies
    staff.user.refresh_from_db()
    assert staff.user.language == ""
    page = client.get("/").content.decode()
    assert '<li class="message message-error" role="status">不支持该语言。</li>' in page


def test_the_switch_never_redirects_off_site(client: Any) -> None:
    response = client.post("/i18n/setlang/", {"language": "en", "next": "https://evil.example/"})

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_the_switch_takes_only_post(client: Any) -> None:
    assert client.get("/i18n/setlang/?language=en").status_code == 405
