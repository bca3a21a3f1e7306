"""The form-js schemas from outside (../shared/data/forms, see its SOURCES.md): every one parses,
and validates what its viewer would submit — and refuses what its viewer would flag — the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medoa.engines.forms.schema import FormSchema, parse_schema
from medoa.engines.forms.validation import validate

FILES = [
    "complex__formjs__complex.json",
    "condition-dynamiclist__formjs__condition-errors-dynamic-list.json",
    "condition__formjs__condition.json",
    "default-values__formjs__defaultValues.json",
    "dynamic-list-variables__formjs__dynamic-list-variables.json",
    "dynamic-options__formjs__dynamic.json",
    "invoice-task-form__camunda-examples__task-form.form",
    "required__formjs__required.json",
    "values-expression__formjs__valuesExpression.json",
    "viewer-form__formjs__form.json",
]


def load(shared_data: Path, name: str) -> FormSchema:
    return parse_schema(json.loads((shared_data / "forms" / name).read_text(encoding="utf-8")))


def errors(result: Any) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in result.errors]


def test_every_outside_schema_parses(shared_data: Path) -> None:
    found = sorted(p.name for p in (shared_data / "forms").iterdir() if p.suffix in (".json", ".form"))
    assert found == sorted(FILES)
    for name in FILES:
        assert load(shared_data, name).input_fields()


def test_viewer_form(shared_data: Path) -> None:
    schema = load(shared_data, "viewer-form__formjs__form.json")
    good = {
        "invoiceDetails": {"supplementaryInfo1": "a", "supplementaryInfo2": "b"},
        "clients": [{"clientSurname": "Zhang", "clientName": "San"}, {"clientSurname": "", "clientName": ""}],
        "creditor": "John Doe Company",
        "invoiceNumber": "C-123",
        "amount": 456,
        "approved": True,
        "approvedBy": "John Doe",
        "approverComments": "ok",
        "product": "camunda-cloud",
        "mailto": ["regional-manager", "approver"],
        "language": "english",
        "conversation": "2010-06-15T12:00Z",
        "tags": ["tag1", "tag2"],
    }
    result = validate(schema, good)
    assert errors(result) == []
    assert result.data == good
    bad = {**good, "creditor": "", "invoiceNumber": "123", "amount": 1001, "product": "x", "tags": ["tag9"]}
    assert errors(validate(schema, bad)) == [
        ("creditor", "required"),
        ("invoiceNumber", "pattern"),
        ("amount", "max"),
        ("product", "not_an_option"),
        ("tags", "not_an_option"),
    ]


def test_invoice_task_form(shared_data: Path) -> None:
    schema = load(shared_data, "invoice-task-form__camunda-examples__task-form.form")
    good = {
        "creditor": "Great Pizza",
        "amount": "30",
        "invoiceNumber": "C-1",
        "approved": "true",
        "approvedBy": "",
    }
    assert errors(validate(schema, good)) == []
    # "(true|false)" is not anchored in the browser either: "untrue" passes, "yes" does not
    assert errors(validate(schema, {**good, "approved": "untrue"})) == []
    assert errors(validate(schema, {**good, "approved": "yes", "amount": "3.5", "creditor": None})) == [
        ("creditor", "required"),
        ("amount", "pattern"),
        ("approved", "pattern"),
    ]


def test_required_form(shared_data: Path) -> None:
    schema = load(shared_data, "required__formjs__required.json")
    result = validate(schema, {"approved": False, "mailto": [], "tags": []})
    assert errors(result) == [
        ("creditor", "required"),
        ("invoiceNumber", "required"),
        ("amount", "required"),
        ("approved", "required"),
        ("approvedBy", "required"),
        ("approverComments", "required"),
        ("product", "required"),
        ("mailto", "required"),
        ("language", "required"),
        ("conversation", "required"),
        ("tags", "required"),
    ]


def test_condition_form(shared_data: Path) -> None:
    schema = load(shared_data, "condition__formjs__condition.json")
    # text hidden while amount <= 2: its value is dropped
    assert validate(schema, {"amount": 1, "text": "x"}).data == {"amount": 1}
    assert validate(schema, {"amount": 3, "text": "x"}).data == {"amount": 3, "text": "x"}
    # amount null: "null <= 2" is null, so the text is shown
    assert validate(schema, {"text": "x"}).data == {"text": "x"}
    assert errors(validate(schema, {"amount": -1})) == [("amount", "min")]


def test_condition_in_a_dynamic_list(shared_data: Path) -> None:
    schema = load(shared_data, "condition-dynamiclist__formjs__condition-errors-dynamic-list.json")
    data = {
        "hideList": False,
        "list": [{"element": None, "hideElement": True}, {"element": None, "hideElement": False}],
    }
    result = validate(schema, data)
    assert errors(result) == [("list[1].element", "required")]
    result = validate(schema, {**data, "hideList": True})
    assert (errors(result), result.data) == ([], {"hideList": True})


def test_default_values(shared_data: Path) -> None:
    schema = load(shared_data, "default-values__formjs__defaultValues.json")
    result = validate(schema, {})  # a new record: the viewer shows (and submits) the defaults
    assert errors(result) == []
    assert result.data == {
        "creditor": "Max Mustermann GmbH",
        "amount": 0,
        "mailto": ["regional-manager", "approver"],
        "approved": True,
        "approverComments": "Sample comment provided by the approver",
        "product": "camunda-platform",
        "tags": ["tag1", "tag2", "tag3"],
        "language": "english",
    }
    assert errors(validate(schema, {"invoiceNumber": "C-x", "amount": 1000.5})) == [
        ("invoiceNumber", "pattern"),
        ("amount", "max"),
    ]


def test_dynamic_list_variables(shared_data: Path) -> None:
    schema = load(shared_data, "dynamic-list-variables__formjs__dynamic-list-variables.json")
    result = validate(schema, {"list": [{"key": 1}, {"key": 2.5}]})
    assert (errors(result), result.data) == ([], {"list": [{"key": 1}, {"key": 2.5}]})
    assert errors(validate(schema, {"list": [{"key": "1"}]})) == [("list[0].key", "type")]


def test_dynamic_options_from_the_input_data(shared_data: Path) -> None:
    schema = load(shared_data, "dynamic-options__formjs__dynamic.json")
    context = {"xyzData": [{"label": "Option 1", "value": "data1"}, {"label": "Option 2", "value": "data2"}]}
    good = {"product": "data1", "mailto": ["data1", "data2"], "language": "data2", "tags": ["data2"]}
    assert errors(validate(schema, good, context=context)) == []
    assert errors(validate(schema, {**good, "language": "data3"}, context=context)) == [
        ("language", "not_an_option")
    ]
    # the options come from the input data, never from the submission
    assert errors(
        validate(schema, {**good, "xyzData": [{"value": "zz"}], "product": "zz"}, context=context)
    ) == [("product", "not_an_option")]


def test_values_expression(shared_data: Path) -> None:
    schema = load(shared_data, "values-expression__formjs__valuesExpression.json")
    context = {
        "myList": [{"label": "A", "value": "a"}, {"label": "B", "value": "b"}],
        "myList2": ["x"],
        "myList3": [{"label": "Y", "value": "y"}],
        "myList4": [1],
    }
    assert errors(validate(schema, {"mailto": ["a", "b"], "foo": ["x", "y", 1]}, context=context)) == []
    assert errors(validate(schema, {"mailto": ["c"], "foo": ["z"], "product": "p"}, context=context)) == [
        ("product", "not_an_option"),  # "values": [] — no option at all
        ("mailto", "not_an_option"),
        ("foo", "not_an_option"),
    ]


def test_complex_form(shared_data: Path) -> None:
    schema = load(shared_data, "complex__formjs__complex.json")
    submitted = {
        "groupExample": {"groupTextField": "a", "groupNumberField": 2},
        "clients": [{"clientSurname": "A", "clientName": "B"}],
        "textfield": "value",
        "disabled_textfield": "value",
        "readonly_textfield": "value",
        "number_field": 1,
        "readonly_number_field": 1,
        "checkbox": False,
        "readonly_checked_checkbox": True,
        "checklist": ["option_1"],
        "taglist": ["option_2"],
        "radio": "option_1",
        "select": "option_2",
        "searchable_select": "option_1",
        "readonly_select": "option_2",
        "readonly_searchable_select": "option_2",
        "textarea": "text",
        "date_field": "2023-01-05",
        "time_field": "11:45+01:00",
        "datetime_field": "2023-01-05T11:45+01:00",
        "adorned_field": "x",
        "filepicker": "files::abc",
    }
    result = validate(schema, submitted)
    assert errors(result) == []
    assert "disabled_textfield" not in result.data  # disabled fields are not submitted
    assert result.data["readonly_textfield"] == "value"
    # a read-only field changed by a crafted request
    crafted = {**submitted, "readonly_textfield": "changed", "readonly_number_field": 5}
    assert errors(validate(schema, crafted)) == [
        ("readonly_textfield", "readonly"),
        ("readonly_number_field", "readonly"),
    ]
