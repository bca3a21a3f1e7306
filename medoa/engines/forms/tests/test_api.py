"""The form engine's REST API through the real ninja client: each endpoint's permission matrix
(anonymous 401, wrong role 403, out of scope 404, allowed 2xx), bad input answered with a precise
4xx and nothing changed, and the error shape of the whole API."""

# The fixtures come from factories (imported below): the test parameters naming them are not
# redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from django.test import Client
from django.utils.translation import gettext, override

from medoa.engines.forms import services
from medoa.engines.forms.models import FormDefinition, FormRecord, FormVersion

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
)

API = "/api/v1/forms"


def _both(msgid: str) -> tuple[str, str]:
    with override("zh-hans"):
        zh = gettext(msgid)
    with override("en"):
        en = gettext(msgid)
    return zh, en


def _post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


# --- POST / ---------------------------------------------------------------------------------------


def test_publish_matrix(people: SimpleNamespace, api_as: Any) -> None:
    before = counts()
    assert _post(api_as(None), API, leave_schema()).status_code == 401
    nurse = _post(api_as(people.nurse), API, leave_schema())
    assert nurse.status_code == 403
    assert nurse.json() == dict(
        zip(("detail", "detail_en"), _both("You do not have permission to do this."), strict=True)
    )
    assert counts() == before

    response = _post(api_as(people.it), API, leave_schema())
    assert response.status_code == 201, response.json()
    assert response.json() == {"key": "leave_form", "version": 1}
    definition = FormDefinition.objects.get()
    assert (definition.key, definition.name) == ("leave_form", "leave_form")

    changed = leave_schema()
    changed["components"][1]["validate"]["max"] = 60
    again = _post(api_as(people.it), f"{API}?name=请假单&category=hr", changed)
    assert again.json() == {"key": "leave_form", "version": 2}
    definition.refresh_from_db()
    assert (definition.name, definition.category) == ("请假单", "hr")
    same = _post(api_as(people.it), API, changed)
    assert same.json() == {"key": "leave_form", "version": 2}


def test_publish_with_explicit_key(people: SimpleNamespace, api_as: Any) -> None:
    schema = leave_schema()
    schema.pop("id")
    missing = _post(api_as(people.it), API, schema)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "key"
    response = _post(api_as(people.it), f"{API}?key=ward-leave", schema)
    assert response.status_code == 201
    assert response.json() == {"key": "ward-leave", "version": 1}


def test_publish_refuses_a_bad_schema_listing_every_problem(people: SimpleNamespace, api_as: Any) -> None:
    before = counts()
    bad = {
        "id": "bad",
        "components": [
            {"type": "no-such-type", "key": "a"},
            {"type": "textfield", "key": "b"},
            {"type": "textfield", "key": "b"},
        ],
    }
    response = _post(api_as(people.it), API, bad)
    assert response.status_code == 400
    body = response.json()
    assert body["detail_en"] == "The form schema is not valid; nothing was changed."
    assert len(body["problems"]) >= 2
    assert {"path", "code", "message", "message_en"} <= set(body["problems"][0])
    paths = [p["path"] for p in body["problems"]]
    assert any(p.startswith("components[0]") for p in paths)
    assert any(p.startswith("components[2]") for p in paths)
    assert counts() == before


def test_publish_body_must_be_a_json_object(people: SimpleNamespace, api_as: Any) -> None:
    client = api_as(people.it)
    broken = client.post(API, data="{not json", content_type="application/json")
    assert broken.status_code == 400
    assert broken.json()["errors"][0]["type"] == "json_invalid"
    array = _post(client, API, [1, 2])
    assert array.status_code == 400
    assert array.json()["errors"][0]["field"] == "body"
    assert FormDefinition.objects.count() == 0


# --- GET / and /{key} ---------------------------------------------------------------------------


def test_get_form(people: SimpleNamespace, api_as: Any, leave: FormVersion) -> None:
    assert api_as(None).get(f"{API}/leave_form").status_code == 401
    response = api_as(people.nurse).get(f"{API}/leave_form")
    assert response.status_code == 200
    body = response.json()
    assert body["key"] == "leave_form"
    assert body["version"] == 1
    assert body["schema"] == leave_schema()
    assert body["versions"] == [1]
    assert body["reporting"][1] == {"key": "days", "kind": "number"}
    assert api_as(people.nurse).get(f"{API}/leave_form?version=2").status_code == 404
    assert api_as(people.nurse).get(f"{API}/nope").status_code == 404
    listed = api_as(people.nurse).get(API).json()
    assert [(f["key"], f["version"]) for f in listed] == [("leave_form", 1)]


def test_unpublished_form_is_for_designers_only(people: SimpleNamespace, api_as: Any) -> None:
    services.form_create(actor=people.it.user, key="wip", name="草稿", schema={})
    assert api_as(people.nurse).get(f"{API}/wip").status_code == 404
    assert [f["key"] for f in api_as(people.nurse).get(API).json()] == []
    assert [f["key"] for f in api_as(people.it).get(API).json()] == ["wip"]


# --- POST /{key}/validate -------------------------------------------------------------------------


def test_validate(people: SimpleNamespace, api_as: Any, leave: FormVersion) -> None:
    before = counts()
    ok = _post(api_as(people.nurse), f"{API}/leave_form/validate", {"data": good_data()})
    assert ok.status_code == 200
    assert ok.json() == {"valid": True, "errors": []}

    bad = _post(api_as(people.nurse), f"{API}/leave_form/validate", {"data": {"days": 0, "kind": "x"}})
    assert bad.status_code == 200
    body = bad.json()
    assert body["valid"] is False
    assert sorted((e["field"], e["code"]) for e in body["errors"]) == [
        ("days", "min"),
        ("kind", "not_an_option"),
        ("title", "required"),
    ]
    assert all(set(e) == {"field", "code", "message", "message_en"} for e in body["errors"])
    assert counts() == before

    stray = _post(api_as(people.nurse), f"{API}/leave_form/validate", {"data": good_data(bed_no="12")})
    assert stray.json()["valid"] is False
    assert [(e["field"], e["code"]) for e in stray.json()["errors"]] == [("bed_no", "unknown_field")]
    assert _post(api_as(people.nurse), f"{API}/leave_form/validate", {"data": []}).status_code == 422
    assert _post(api_as(people.nurse), f"{API}/leave_form/validate", {"data": {}, "x": 1}).status_code == 422
    assert _post(api_as(people.nurse), f"{API}/nope/validate", {"data": {}}).status_code == 404
    assert _post(api_as(None), f"{API}/leave_form/validate", {"data": {}}).status_code == 401
    stale = _post(api_as(people.nurse), f"{API}/leave_form/validate", {"data": {}, "version": 3})
    assert stale.status_code == 409


# --- records --------------------------------------------------------------------------------------


def test_submit_record(people: SimpleNamespace, api_as: Any, leave: FormVersion) -> None:
    assert _post(api_as(None), f"{API}/leave_form/records", {"data": good_data()}).status_code == 401
    response = _post(api_as(people.nurse), f"{API}/leave_form/records", {"data": good_data(), "version": 1})
    assert response.status_code == 201, response.json()
    record = FormRecord.objects.get()
    body = response.json()
    assert body["id"] == record.pk
    assert body["key"] == "leave_form"
    assert body["version"] == 1
    assert body["status"] == "submitted"
    assert body["source"] == "api"
    assert body["submitter"] == {"id": people.nurse.pk, "name": "李护士", "username": "nurse_li"}
    assert body["department"] == "CARD-W1"
    assert body["data"] == good_data()


def test_submit_invalid_record_answers_each_field(
    people: SimpleNamespace, api_as: Any, leave: FormVersion
) -> None:
    before = counts()
    response = _post(
        api_as(people.nurse), f"{API}/leave_form/records", {"data": good_data(days=31, title="")}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["detail_en"] == "The form has errors; nothing was saved."
    assert sorted((e["field"], e["code"]) for e in body["errors"]) == [("days", "max"), ("title", "required")]
    assert all({"field", "code", "type", "message", "message_en"} == set(e) for e in body["errors"])
    assert counts() == before


def test_submit_for_another_version_is_409(people: SimpleNamespace, api_as: Any, leave: FormVersion) -> None:
    changed = leave_schema()
    changed["components"][0]["label"] = "新"
    services.form_schema_publish(actor=people.it.user, schema=changed)
    before = counts()
    response = _post(api_as(people.nurse), f"{API}/leave_form/records", {"data": good_data(), "version": 1})
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "version"
    assert counts() == before


def test_submit_unknown_field_from_another_version(
    people: SimpleNamespace, api_as: Any, leave: FormVersion
) -> None:
    response = _post(api_as(people.nurse), f"{API}/leave_form/records", {"data": good_data(bed_no="12")})
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("bed_no", "unknown_field")]


def test_record_list_scope_matrix(people: SimpleNamespace, api_as: Any, leave: FormVersion) -> None:
    mine = services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data())
    theirs = services.record_submit(actor=people.nurse2.user, key="leave_form", data=good_data(days=5))
    surgical = services.record_submit(actor=people.surgeon.user, key="leave_form", data=good_data(days=7))

    def ids(staff: Any, query: str = "") -> list[int]:
        response = api_as(staff).get(f"{API}/leave_form/records{query}")
        assert response.status_code == 200, response.json()
        return [item["id"] for item in response.json()["items"]]

    assert api_as(None).get(f"{API}/leave_form/records").status_code == 401
    assert ids(people.nurse) == [mine.pk]
    assert ids(people.nurse2) == [theirs.pk]
    assert sorted(ids(people.head)) == sorted([mine.pk, theirs.pk])  # cardiology tree
    assert sorted(ids(people.office)) == sorted([mine.pk, theirs.pk, surgical.pk])
    assert ids(people.it) == []
    assert ids(people.office, "?days__gte=5&sort=days") == [theirs.pk, surgical.pk]
    assert ids(people.office, "?days=7") == [surgical.pk]

    # one record: the same scope
    assert api_as(people.head).get(f"{API}/records/{mine.pk}").status_code == 200
    assert api_as(people.head).get(f"{API}/records/{surgical.pk}").status_code == 404
    assert api_as(people.nurse2).get(f"{API}/records/{mine.pk}").status_code == 404


def test_record_list_paging_and_shape(people: SimpleNamespace, api_as: Any, leave: FormVersion) -> None:
    for days in range(1, 6):
        services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data(days=days))
    response = api_as(people.nurse).get(f"{API}/leave_form/records?page=2&page_size=2&sort=days")
    body = response.json()
    assert (body["total"], body["page"], body["page_size"], body["pages"]) == (5, 2, 2, 3)
    assert [item["data"]["days"] for item in body["items"]] == [3, 4]


def test_record_list_bad_parameters_are_422(people: SimpleNamespace, api_as: Any, leave: FormVersion) -> None:
    client = api_as(people.office)
    for query, field in (
        ("?reason=x", "filters.reason"),  # not marked for reporting
        ("?days=abc", "filters.days"),
        ("?start=2026-13-01", "filters.start"),
        ("?days__near=1", "filters.days__near"),
        ("?status=lost", "filters.status"),
        ("?sort=reason", "sort"),
        ("?page=0", "page"),
        ("?page_size=1000", "page_size"),
        ("?page=x", "page"),
    ):
        response = client.get(f"{API}/leave_form/records{query}")
        assert response.status_code == 422, (query, response.json())
        assert response.json()["errors"][0]["field"] == field, query
    assert client.get(f"{API}/nope/records").status_code == 404


def test_patch_record(people: SimpleNamespace, api_as: Any, leave: FormVersion) -> None:
    record = services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data())
    url = f"{API}/records/{record.pk}"
    head = api_as(people.head).patch(
        url, data=json.dumps({"data": good_data(days=9)}), content_type="application/json"
    )
    assert head.status_code == 403
    other = api_as(people.nurse2).patch(
        url, data=json.dumps({"data": good_data(days=9)}), content_type="application/json"
    )
    assert other.status_code == 404
    ok = api_as(people.nurse).patch(
        url, data=json.dumps({"data": good_data(days=9)}), content_type="application/json"
    )
    assert ok.status_code == 200, ok.json()
    assert ok.json()["data"]["days"] == 9
