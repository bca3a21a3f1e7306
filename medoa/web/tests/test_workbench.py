"""The role workbench: heading by role, profile, cards the user may see, and its query budget."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from medoa.core.access.cache import access_cache_clear
from medoa.core.access.policy import forget_principal
from medoa.core.notify.services import notification_send
from medoa.core.org.services import delegation_create, delegation_revoke
from medoa.core.registries import Registry, WorkbenchCard, workbench_cards
from medoa.web import views
from medoa.web.selectors import workbench_cards_visible, workbench_heading

pytestmark = pytest.mark.django_db


def _card(key: str, **kwargs: Any) -> WorkbenchCard:
    defaults: dict[str, Any] = {
        "title": key,
        "template": "web/cards/text.html",
        "context": lambda request: {"text": f"card {key} body"},
    }
    defaults.update(kwargs)
    return WorkbenchCard(key=key, **defaults)


@pytest.fixture
def cards(monkeypatch: pytest.MonkeyPatch) -> Registry[WorkbenchCard]:
    """The workbench view reads this registry instead of the global one for the test."""
    registry: Registry[WorkbenchCard] = Registry("test cards")
    monkeypatch.setattr(views, "workbench_cards", registry)
    return registry


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        (["dean", "doctor"], "院长工作台"),
        (["vice_dean"], "分管院长工作台"),
        (["sys_admin"], "系统管理工作台"),
        (["audit_admin"], "系统管理工作台"),
        (["doctor", "dept_head"], "科主任工作台"),
        (["nurse", "head_nurse"], "护士长工作台"),
        (["finance"], "职能科室工作台"),
        (["medical_affairs", "doctor"], "职能科室工作台"),
        (["doctor"], "医生工作台"),
        (["nurse"], "护士工作台"),
        (["housekeeping"], "后勤服务工作台"),
        ([], "我的工作台"),
        (["custom_role"], "我的工作台"),
    ],
)
def test_heading_follows_the_documented_role_order(roles: list[str], expected: str) -> None:
    with translation.override("zh-hans"):
        assert str(workbench_heading(roles)) == expected


def test_heading_in_english() -> None:
    with translation.override("en"):
        assert str(workbench_heading(["head_nurse"])) == "Head nurse's workbench"


def test_anonymous_is_sent_to_sign_in(client: Any) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_workbench_shows_profile_with_department_chain_and_roles(
    make_staff: Any, hospital: Any, signed_in: Any
) -> None:
    staff = make_staff("dept_head", "doctor", department=hospital["cardio"], name="张伟", employee_no="C1001")

    response = signed_in(staff).get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>科主任工作台</h1>" in html
    assert '<div class="profile-name">张伟</div>' in html
    assert "<dd>C1001</dd>" in html
    assert str(staff.get_title_display()) in html
    assert (
        '<ol class="breadcrumb"><li>示范市第一人民医院</li><li>临床科室</li><li>心血管内科</li></ol>' in html
    )
    assert "科主任 · 心血管内科" in html
    assert "医生 · 心血管内科" in html
    assert response.context["profile"].department_chain == [
        hospital["root"],
        hospital["clinical"],
        hospital["cardio"],
    ]


def test_account_without_staff_record_still_gets_a_workbench(user_factory: Any, client: Any) -> None:
    user = user_factory(username="svc-account")
    client.force_login(user)

    response = client.get("/")

    assert response.status_code == 200
    assert "此账号未关联职工档案。" in response.content.decode()
    assert str(response.context["heading"]) == "我的工作台"


def test_cards_are_filtered_by_role_and_permission_and_ordered(
    make_staff: Any, grant: Any, signed_in: Any, cards: Registry[WorkbenchCard]
) -> None:
    cards.register("everyone", _card("everyone", order=50))
    cards.register("doctors", _card("doctors", order=10, roles=("doctor",)))
    cards.register("nurses", _card("nurses", order=5, roles=("nurse",)))
    cards.register("perm", _card("perm", order=30, permission="test.reports.view"))
    cards.register("perm_missing", _card("perm_missing", permission="test.never.granted"))
    cards.register("both", _card("both", order=40, roles=("doctor",), permission="test.reports.view"))
    cards.register("both_no_perm", _card("both_no_perm", roles=("doctor",), permission="test.never.granted"))
    cards.register("first", _card("first", order=1, width="full"))
    staff = make_staff("doctor")
    grant("doctor", "test.reports.view")

    response = signed_in(staff).get("/")

    shown = [rendered.card.key for rendered in response.context["cards"]]
    assert shown == ["first", "doctors", "perm", "both", "everyone"]
    html = response.content.decode()
    assert '<section class="card wb-card wb-full" id="card-first">' in html
    assert '<section class="card wb-card wb-half" id="card-doctors">' in html
    assert "<p>card doctors body</p>" in html
    assert "card nurses body" not in html


def test_card_visibility_for_nurse(make_staff: Any) -> None:
    registry: Registry[WorkbenchCard] = Registry("t")
    registry.register("doctors", _card("doctors", roles=("doctor",)))
    registry.register("nurses", _card("nurses", roles=("nurse", "head_nurse")))
    staff = make_staff("head_nurse")

    visible = workbench_cards_visible(user=staff.user, cards=registry)

    assert [c.key for c in visible] == ["nurses"]


def test_a_broken_card_does_not_take_the_workbench_down(
    make_staff: Any, signed_in: Any, cards: Registry[WorkbenchCard], caplog: Any
) -> None:
    def explode(request: Any) -> dict[str, Any]:
        raise RuntimeError("card backend exploded: secret detail")

    cards.register("broken", _card("broken", order=1, context=explode))
    cards.register("missing_template", _card("missing_template", order=2, template="nowhere/missing.html"))
    cards.register("fine", _card("fine", order=3))
    staff = make_staff("doctor")

    response = signed_in(staff).get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("此卡片暂时无法加载。") == 2
    assert "<p>card fine body</p>" in html
    assert "secret detail" not in html
    assert "workbench card broken failed" in caplog.text


def test_my_notifications_card_on_the_workbench(make_staff: Any, signed_in: Any) -> None:
    staff = make_staff("doctor")
    for i in range(7):
        notification_send(recipients=[staff.user], title=f"通知{i}", link=f"/x/{i}/")

    response = signed_in(staff).get("/")

    html = response.content.decode()
    assert '<section class="card wb-card wb-half" id="card-notify-my-notifications">' in html
    assert [n.title for n in response.context["notifications"]] == [
        "通知6",
        "通知5",
        "通知4",
        "通知3",
        "通知2",
    ]
    assert "收件箱中有 7 条未读" in html
    assert '<span id="unread-badge" class="badge badge-danger topbar-badge">7' in html


def test_workbench_query_count_is_pinned(
    make_staff: Any,
    signed_in: Any,
    cards: Registry[WorkbenchCard],
    django_assert_num_queries: Any,
    settings: Any,
) -> None:
    """With the access cache warm (medoa.core.access.cache): the session and its user (Django),
    and the notifications card, whose query also counts the unread notifications for the top bar.
    The session guard's live-session check, the principal (staff, role assignments, grants), the
    department chain and the delegations card come from the cache."""
    cards.register("notify.my_notifications", workbench_cards.get("notify.my_notifications"))
    cards.register("org.delegations", workbench_cards.get("org.delegations"))
    staff = make_staff("doctor", "dept_head")
    notification_send(recipients=[staff.user], title="值班提醒")
    settings.MEDOA_ACCESS_CACHE_SECONDS = 5
    access_cache_clear()
    client = signed_in(staff)
    try:
        client.get("/")  # warms the caches; the first request of a session writes its idle stamp

        with django_assert_num_queries(WORKBENCH_QUERIES):
            response = client.get("/")
    finally:
        access_cache_clear()
    assert response.status_code == 200
    assert "值班提醒" in response.content.decode()


def test_workbench_query_count_without_the_access_cache_is_pinned(
    make_staff: Any, signed_in: Any, cards: Registry[WorkbenchCard], django_assert_num_queries: Any
) -> None:
    """Cold (MEDOA_ACCESS_CACHE_SECONDS=0, the test profile): session, user, the live-session
    check, the principal (staff, role assignments, grants), the department chain, the delegations
    card, the notifications card, the enabled no-code apps for the menu (forms.app_selectors)."""
    cards.register("notify.my_notifications", workbench_cards.get("notify.my_notifications"))
    cards.register("org.delegations", workbench_cards.get("org.delegations"))
    staff = make_staff("doctor", "dept_head")
    notification_send(recipients=[staff.user], title="值班提醒")
    client = signed_in(staff)
    client.get("/")

    with django_assert_num_queries(WORKBENCH_QUERIES_COLD):
        response = client.get("/")
    assert response.status_code == 200


# Keep in step with the docstrings above; a rise means an N+1 or a new query.
WORKBENCH_QUERIES = 3
WORKBENCH_QUERIES_COLD = 10


def test_workbench_queries_do_not_grow_with_roles_or_notifications(
    make_staff: Any,
    signed_in: Any,
    role_assignment_factory: Any,
    role_factory: Any,
    department_factory: Any,
    cards: Registry[WorkbenchCard],
) -> None:
    # The cards everyone sees (a role-specific card — the roster, the cleaning list — adds its own
    # queries when its role is granted, which is what it is for): their cost and the shell's must
    # not grow with the roles held or the notifications waiting.
    for key, card in workbench_cards.items():
        if not card.roles:
            cards.register(key, card)
    staff = make_staff("doctor")
    client = signed_in(staff)
    client.get("/")

    def count() -> int:
        forget_principal(staff.user)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/").status_code == 200
        return len(ctx.captured_queries)

    before = count()
    for code in ("nurse", "head_nurse", "finance", "hr"):
        role_assignment_factory(staff=staff, role=role_factory(code=code), department=department_factory())
    notification_send(recipients=[staff.user], title="a")
    notification_send(recipients=[staff.user], title="b")

    assert count() == before


def test_the_cached_delegations_card_follows_changes_at_once(
    make_staff: Any, signed_in: Any, cards: Registry[WorkbenchCard], settings: Any
) -> None:
    """The card's rows are cached with the access cache; creating or revoking a delegation drops
    both parties' rows in this process."""
    cards.register("org.delegations", workbench_cards.get("org.delegations"))
    me = make_staff("doctor", name="张伟")
    colleague = make_staff("doctor", name="李娜", department=me.department)
    settings.MEDOA_ACCESS_CACHE_SECONDS = 5
    access_cache_clear()
    client = signed_in(colleague)
    try:
        assert "没有生效中或即将开始的委托。" in client.get("/").content.decode()
        now = timezone.now()
        delegation = delegation_create(
            actor=me.user, delegator=me, delegate=colleague, starts_at=now, ends_at=now + timedelta(days=1)
        )
        assert "来自 张伟" in client.get("/").content.decode()
        delegation_revoke(actor=me.user, delegation=delegation)
        assert "没有生效中或即将开始的委托。" in client.get("/").content.decode()
    finally:
        access_cache_clear()
