"""Message templates: safe rendering, precise errors, each recipient in their own language."""

from __future__ import annotations

from typing import Any

import pytest

from medoa.core.notify.models import MessageTemplate, Notification
from medoa.core.notify.services import notification_send_template, preference_update
from medoa.core.notify.templating import (
    MessageTemplateSpec,
    TemplateError,
    TemplateVariableError,
    message_templates,
    render_text,
    template_fields,
)

SPEC = MessageTemplateSpec(
    key="test.critical",
    kind="critical",
    title_zh="危急值：{patient} {item} {value:.1f}",
    body_zh="请于 {minutes} 分钟内确认。",
    title_en="Critical value: {patient} {item} {value:.1f}",
    body_en="Please acknowledge within {minutes} minutes.",
)


@pytest.fixture(autouse=True)
def registered() -> Any:
    if "test.critical" not in message_templates:
        message_templates.register("test.critical", SPEC)
    return SPEC


def test_render_in_both_languages() -> None:
    variables = {"patient": "3 床 张三", "item": "血钾", "value": 6.84, "minutes": 15}

    assert SPEC.render("zh", variables) == ("危急值：3 床 张三 血钾 6.8", "请于 15 分钟内确认。")
    assert SPEC.render("en", variables) == (
        "Critical value: 3 床 张三 血钾 6.8",
        "Please acknowledge within 15 minutes.",
    )


def test_missing_variables_are_named_with_where_they_are_used() -> None:
    with pytest.raises(TemplateVariableError) as err:
        SPEC.render("zh", {"patient": "张三"})

    assert err.value.missing == {"item": ["title"], "value": ["title"], "minutes": ["body"]}
    assert str(err.value) == (
        "template 'test.critical': missing variable(s): item (in title), minutes (in body), value (in title)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{user.password}", "title_zh: {user.password} is not a plain variable name"),
        ("{a[0]}", "title_zh: {a[0]} is not a plain variable name"),
        ("{x!r}", "title_zh: {x!r}: only !s is allowed"),
        ("{x:>999999}", "title_zh: {x:>999999}: format spec not allowed"),
        ("{x:{y}}", "title_zh: {x:{y}}: format spec not allowed"),
        ("{0}", "title_zh: {0} is not a plain variable name"),
        ("{}", "title_zh: {} is not a plain variable name"),
        ("unclosed {x", "title_zh: expected '}' before end of string"),
    ],
)
def test_templates_that_reach_into_objects_or_blow_up_are_refused(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as err:
        template_fields(text, where="title_zh")

    assert str(err.value) == message


def test_values_are_plain_text_never_objects() -> None:
    class Sneaky:
        secret = "s3cret"

        def __str__(self) -> str:
            return "shown"

    assert render_text("{x}", {"x": Sneaky()}) == "shown"
    assert render_text("{{literal}} {x!s}", {"x": True}) == "{literal} True"
    with pytest.raises(TemplateError):
        render_text("{x:.1f}", {"x": "text"}, where="body_en")


@pytest.mark.django_db
def test_send_template_gives_each_recipient_their_language_chinese_by_default(user_factory: Any) -> None:
    zh, en, none = user_factory(), user_factory(), user_factory()
    preference_update(user=en, channels={}, quiet_start=None, quiet_end=None, language="en")
    preference_update(user=zh, channels={}, quiet_start=None, quiet_end=None, language="zh-hans")
    variables = {"patient": "3 床", "item": "K", "value": 6.8, "minutes": 15}

    sent = notification_send_template(
        template_key="test.critical", recipients=[zh, en, none], variables=variables, link="/q/1/"
    )

    assert [(n.recipient_id, n.title, n.kind, n.data) for n in sent] == [
        (zh.pk, "危急值：3 床 K 6.8", "critical", {"template": "test.critical"}),
        (en.pk, "Critical value: 3 床 K 6.8", "critical", {"template": "test.critical"}),
        (none.pk, "危急值：3 床 K 6.8", "critical", {"template": "test.critical"}),
    ]


@pytest.mark.django_db
def test_a_template_row_overrides_the_registered_one_and_a_missing_variable_sends_nothing(
    user_factory: Any,
) -> None:
    u = user_factory()
    MessageTemplate.objects.create(
        key="test.critical", title_zh="【危急】{patient}", title_en="[Critical] {patient}"
    )

    [n] = notification_send_template(
        template_key="test.critical", recipients=[u], variables={"patient": "张三"}
    )
    with pytest.raises(TemplateVariableError):
        notification_send_template(template_key="test.critical", recipients=[u], variables={})
    with pytest.raises(KeyError):
        notification_send_template(template_key="no.such", recipients=[u], variables={})

    assert n.title == "【危急】张三"
    assert Notification.objects.count() == 1
