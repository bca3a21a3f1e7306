"""The form engine's services: definitions, drafts and publishing; records submitted, updated and
moved on; every refusal precise and leaving nothing behind; audit entries for what a person would
question; the reporting side table written with the record."""

# The fixtures come from factories (imported below): the test parameters naming them are not
# redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils.translation import override

from medoa.core.audit.models import AuditEntry
from medoa.engines.forms import services
from medoa.engines.forms.errors import (
    FormsConflict,
    FormsInputError,
    FormsNotFound,
    FormsPermissionDenied,
    SchemaInvalid,
    ValidationFailed,
)
from medoa.engines.forms.models import FormDefinition, FormDraft, FormRecord, FormRecordValue, FormVersion

from .factories import (  # noqa: F401  (fixtures)
    counts,
    good_data,
    grants,
    hospital,
    leave,
    leave_schema,
    media,
    people,
    person,
    upload,
)


def _actions() -> list[str]:
    return list(AuditEntry.objects.order_by("id").values_list("action", flat=True))


# --- definitions ----------------------------------------------------------------------------------


def test_create_saves_a_draft_and_publish_makes_version_1(people: SimpleNamespace) -> None:
    definition = services.form_create(
        actor=people.it.user, key="leave", name="请假单", schema=leave_schema(), category="hr"
    )
    assert (definition.key, definition.name, definition.category) == ("leave", "请假单", "hr")
    assert definition.department == people.it.department
    assert definition.latest_version is None
    assert FormDraft.objects.get(definition=definition).schema == leave_schema()

    version = services.form_publish(actor=people.it.user, key="leave")
    assert version.version == 1
    assert version.schema == leave_schema()
    assert len(version.checksum) == 64
    assert version.reporting == [
        {"key": "title", "kind": "text", "many": False},
        {"key": "days", "kind": "number", "many": False},
        {"key": "kind", "kind": "text", "many": False},
        {"key": "start", "kind": "date", "many": False},
        {"key": "tags", "kind": "text", "many": True},
    ]
    definition.refresh_from_db()
    assert definition.latest_version == version
    assert _actions() == ["forms.definition.created", "forms.definition.published"]


def test_publishing_again_unchanged_keeps_the_version(people: SimpleNamespace, leave: FormVersion) -> None:
    again = services.form_schema_publish(actor=people.it.user, schema=leave_schema())
    assert again == leave
    changed = leave_schema()
    changed["components"][0]["label"] = "请假标题"
    v2 = services.form_schema_publish(actor=people.it.user, schema=changed)
    assert (v2.version, v2.definition_id) == (2, leave.definition_id)
    assert FormVersion.objects.filter(definition=leave.definition).count() == 2


def test_draft_save_keeps_anything_and_publish_refuses_a_bad_schema(people: SimpleNamespace) -> None:
    services.form_create(actor=people.it.user, key="bad", name="坏表单", schema={"components": []})
    bad = {"type": "default", "components": [{"type": "no-such-type", "key": "x"}, {"type": "textfield"}]}
    draft = services.form_draft_save(actor=people.it.user, key="bad", schema=bad, name="坏表单2")
    assert draft.schema == bad
    assert FormDefinition.objects.get(key="bad").name == "坏表单2"
    before = counts()
    with pytest.raises(SchemaInvalid) as caught:
        services.form_publish(actor=people.it.user, key="bad")
    assert len(caught.value.problems) >= 1
    assert any("no-such-type" in str(p.message) or p.code for p in caught.value.problems)
    assert counts() == before


def test_schema_publish_refuses_and_stores_nothing(people: SimpleNamespace) -> None:
    before = counts()
    with pytest.raises(SchemaInvalid):
        services.form_schema_publish(
            actor=people.it.user, schema={"id": "x1", "components": [{"type": "bogus", "key": "a"}]}
        )
    assert counts() == before
    assert not FormDefinition.objects.filter(key="x1").exists()


@pytest.mark.parametrize(
    ("key", "schema_id"),
    [("bad key", None), ("-x", None), ("x" * 65, None), ("records", None), (None, "has space"), (None, None)],
)
def test_bad_keys_are_refused(people: SimpleNamespace, key: str | None, schema_id: str | None) -> None:
    schema = leave_schema()
    if schema_id is None:
        schema.pop("id")
    else:
        schema["id"] = schema_id
    with pytest.raises(FormsInputError) as caught:
        services.form_schema_publish(actor=people.it.user, schema=schema, key=key)
    assert caught.value.field == "key"
    assert FormDefinition.objects.count() == 0


def test_only_designers_create_and_publish(people: SimpleNamespace) -> None:
    for who in (people.nurse, people.head, people.office):
        with pytest.raises(FormsPermissionDenied):
            services.form_create(actor=who.user, key="x", name="x", schema={})
        with pytest.raises(FormsPermissionDenied):
            services.form_schema_publish(actor=who.user, schema=leave_schema())
    assert counts()["definitions"] == 0


def test_create_twice_is_a_conflict(people: SimpleNamespace) -> None:
    services.form_create(actor=people.it.user, key="x", name="x", schema={})
    with pytest.raises(FormsConflict):
        services.form_create(actor=people.it.user, key="x", name="y", schema={})


def test_schema_must_be_a_storable_object(people: SimpleNamespace) -> None:
    with pytest.raises(FormsInputError) as caught:
        services.form_create(actor=people.it.user, key="x", name="x", schema=["not", "an", "object"])  # type: ignore[arg-type]
    assert caught.value.field == "schema"
    with pytest.raises(FormsInputError):
        services.form_create(actor=people.it.user, key="x", name="x", schema={"a": "nul\x00"})
    with pytest.raises(FormsInputError):
        services.form_create(actor=people.it.user, key="x", name="x", schema={"a": float("nan")})


# --- records --------------------------------------------------------------------------------------


def test_submit_keeps_the_record_its_reporting_values_and_an_audit_entry(
    people: SimpleNamespace, leave: FormVersion
) -> None:
    record = services.record_submit(
        actor=people.nurse.user,
        key="leave_form",
        data=good_data(tags=["urgent", "night"], deputy=people.nurse2.pk, dept="CARD"),
        subject="flow:instance:7",
    )
    assert record.version == leave
    assert record.submitter == people.nurse
    assert record.department == people.nurse.department
    assert (record.status, record.source, record.subject) == ("submitted", "web", "flow:instance:7")
    assert record.values["days"] == 3
    assert record.values["deputy"] == people.nurse2.pk
    rows = sorted(
        FormRecordValue.objects.filter(record=record).values_list("field", "text", "number", "date"),
        key=lambda r: (r[0], r[1] or ""),
    )
    assert rows == [
        ("days", None, Decimal("3.000000"), None),
        ("kind", "annual", None, None),
        ("start", None, None, datetime.date(2026, 3, 2)),
        ("tags", "night", None, None),
        ("tags", "urgent", None, None),
        ("title", "年休假", None, None),
    ]
    assert all(r.definition_id == leave.definition_id for r in FormRecordValue.objects.all())
    assert _actions()[-1] == "forms.record.submitted"
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry is not None and entry.target_id == str(record.pk)


def test_invalid_data_raises_every_field_error_and_stores_nothing(
    people: SimpleNamespace, leave: FormVersion
) -> None:
    before = counts()
    with pytest.raises(ValidationFailed) as caught:
        services.record_submit(
            actor=people.nurse.user,
            key="leave_form",
            data={"title": "x", "days": 99, "kind": "holiday", "deputy": 999999, "dept": "NOPE", "extra": 1},
        )
    codes = sorted((e.field, e.code) for e in caught.value.field_errors)
    assert codes == [
        ("days", "max"),
        ("dept", "not_found"),
        ("deputy", "not_found"),
        ("extra", "unknown_field"),
        ("kind", "not_an_option"),
        ("title", "min_length"),
    ]
    assert counts() == before


def test_data_for_another_version_is_a_conflict(people: SimpleNamespace, leave: FormVersion) -> None:
    changed = leave_schema()
    changed["components"][0]["label"] = "新标题"
    services.form_schema_publish(actor=people.it.user, schema=changed)
    before = counts()
    with pytest.raises(FormsConflict) as caught:
        services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data(), version=1)
    assert caught.value.field == "version"
    assert (
        str(caught.value.message)
        == "表单“leave_form”已更新到第 2 版，提交的内容属于第 1 版。请重新打开表单。"
    )
    with override("en"):
        assert str(caught.value.message) == (
            "The form “leave_form” is now at version 2; the data is for version 1. Reload the form."
        )
    assert counts() == before
    assert services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data(), version=2).pk


def test_unknown_and_unpublished_forms_are_not_found(people: SimpleNamespace) -> None:
    with pytest.raises(FormsNotFound):
        services.record_submit(actor=people.nurse.user, key="nope", data={})
    services.form_create(actor=people.it.user, key="unpublished", name="x", schema={})
    with pytest.raises(FormsNotFound):
        services.record_submit(actor=people.nurse.user, key="unpublished", data={})


def test_a_user_without_staff_record_cannot_submit(
    people: SimpleNamespace, leave: FormVersion, user_factory: Any
) -> None:
    with pytest.raises(FormsPermissionDenied):
        services.record_submit(actor=user_factory(), key="leave_form", data=good_data())
    assert FormRecord.objects.count() == 0


def test_a_draft_may_leave_required_fields_empty_but_not_break_rules(
    people: SimpleNamespace, leave: FormVersion
) -> None:
    draft = services.record_submit(
        actor=people.nurse.user, key="leave_form", data={"reason": "家中有事"}, status="draft"
    )
    assert draft.status == "draft"
    with pytest.raises(ValidationFailed) as caught:
        services.record_submit(actor=people.nurse.user, key="leave_form", data={"days": 0}, status="draft")
    assert [(e.field, e.code) for e in caught.value.field_errors] == [("days", "min")]
    # submitting the draft checks everything
    with pytest.raises(ValidationFailed) as caught:
        services.record_status_set(actor=people.nurse.user, record=draft, status="submitted")
    assert sorted(e.field for e in caught.value.field_errors) == ["days", "title"]
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_update_by_the_submitter_rewrites_values_and_side_table(
    people: SimpleNamespace, leave: FormVersion
) -> None:
    record = services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data())
    updated = services.record_update(actor=people.nurse.user, record=record, data=good_data(days=5, tags=[]))
    assert updated.values["days"] == 5
    assert set(FormRecordValue.objects.filter(record=record).values_list("field", flat=True)) == {
        "title",
        "days",
        "kind",
        "start",
    }
    assert FormRecordValue.objects.get(record=record, field="days").number == Decimal("5")
    assert _actions()[-1] == "forms.record.updated"
    assert AuditEntry.objects.order_by("-id").first().details["fields"] == ["days", "tags"]  # type: ignore[union-attr]


def test_update_by_someone_else_is_refused(people: SimpleNamespace, leave: FormVersion) -> None:
    record = services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data())
    before = counts()
    for other in (people.nurse2, people.head, people.office):
        with pytest.raises(FormsPermissionDenied):
            services.record_update(actor=other.user, record=record, data=good_data(days=9))
    record.refresh_from_db()
    assert record.values["days"] == 3
    assert counts() == before


def test_update_of_a_process_record_needs_the_process(people: SimpleNamespace, leave: FormVersion) -> None:
    record = services.record_submit(
        actor=people.nurse.user, key="leave_form", data=good_data(), subject="flow:instance:1"
    )
    with pytest.raises(FormsPermissionDenied):
        services.record_update(actor=people.nurse.user, record=record, data=good_data(days=9))
    updated = services.record_update(
        actor=people.head.user, record=record, data=good_data(days=9), authorized=True
    )
    assert updated.values["days"] == 9


def test_a_readonly_field_changed_by_a_crafted_request_is_refused(
    people: SimpleNamespace, leave: FormVersion
) -> None:
    record = services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data())
    before = counts()
    with pytest.raises(ValidationFailed) as caught:
        services.record_update(
            actor=people.head.user,
            record=record,
            data=good_data(days=20, reason="同意"),
            permissions={"days": "readonly"},
            authorized=True,
        )
    assert [(e.field, e.code) for e in caught.value.field_errors] == [("days", "readonly")]
    record.refresh_from_db()
    assert record.values == good_data()
    assert counts() == before


def test_status_moves(people: SimpleNamespace, leave: FormVersion) -> None:
    record = services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data())
    with pytest.raises(FormsPermissionDenied):
        services.record_status_set(actor=people.nurse.user, record=record, status="approved")
    approved = services.record_status_set(
        actor=people.head.user, record=record, status="approved", authorized=True
    )
    assert approved.status == "approved"
    with pytest.raises(FormsConflict):
        services.record_status_set(actor=people.nurse.user, record=record, status="withdrawn")
    with pytest.raises(FormsConflict):
        services.record_update(actor=people.head.user, record=record, data=good_data(), authorized=True)
    other = services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data())
    assert (
        services.record_status_set(actor=people.nurse.user, record=other, status="withdrawn").status
        == "withdrawn"
    )
    assert _actions().count("forms.record.status") == 2


def test_data_must_be_an_object_of_json_values(people: SimpleNamespace, leave: FormVersion) -> None:
    for data in (["x"], {"title": "a\x00b"}, {"days": float("inf")}):
        with pytest.raises(FormsInputError) as caught:
            services.record_submit(actor=people.nurse.user, key="leave_form", data=data)  # type: ignore[arg-type]
        assert caught.value.field == "data"
    assert FormRecord.objects.count() == 0


def test_reporting_values_fit_their_columns() -> None:
    assert services.typed_value("number", 1.5) == {"number": Decimal("1.500000")}
    assert services.typed_value("number", True) is None
    assert services.typed_value("number", 10**19) is None
    assert services.typed_value("date", "2026-02-30") is None
    assert services.typed_value("date", "2026-02-03T08:00") == {"date": datetime.date(2026, 2, 3)}
    assert services.typed_value("text", False) == {"text": "false"}
    assert services.typed_value("text", 2.0) == {"text": "2"}
    assert services.typed_value("text", "x" * 300) == {"text": "x" * 255}
    assert services.values_at({"a": [{"b": 1}, {"b": [2, 3]}, {"c": 4}]}, "a.b") == [1, 2, 3]
    assert services.values_at({"a": {"b": ""}}, "a.b") == []
