"""The form engine's pages: the form list, the designer's JSON endpoints, the fill page, the record
list (filters, search, sort, paging, export and import), the record page, the pickers' lookups and
the attachments.

Every page: anonymous → sign-in, the wrong role → 403, another department's record → 404, bad
input → the message beside its field and nothing changed."""

# The fixtures come from factories (imported below): the test parameters naming them are not
# redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from medoa.core.org.models import Staff
from medoa.engines.forms import services
from medoa.engines.forms.models import FormAttachment, FormDefinition, FormDraft, FormRecord, FormVersion

from .factories import (  # noqa: F401  (fixtures)
    PNG,
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

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_user(db: Any) -> Callable[[Staff | None], Client]:
    def make(staff: Staff | None) -> Client:
        client = Client()
        if staff is not None:
            client.force_login(staff.user)
        return client

    return make


def _post_json(client: Client, url: str, body: Any) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def _json_script(html: str, element_id: str) -> Any:
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert found is not None, element_id
    return json.loads(found.group(1))


def _submit(person: Staff, **changes: Any) -> FormRecord:
    return services.record_submit(actor=person.user, key="leave_form", data=good_data(**changes))


# --- sign-in and roles ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,args",
    [
        ("forms:form_list", []),
        ("forms:form_new", []),
        ("forms:record_index", []),
        ("forms:designer", ["leave_form"]),
        ("forms:form_fill", ["leave_form"]),
        ("forms:record_list", ["leave_form"]),
        ("forms:staff_lookup", []),
    ],
)
def test_anonymous_people_are_sent_to_sign_in(
    as_user: Callable[..., Client], leave: FormVersion, name: str, args: list[str]
) -> None:
    response = as_user(None).get(reverse(name, args=args))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("access:login"))


@pytest.mark.parametrize(
    "method,name",
    [
        ("get", "forms:designer"),
        ("get", "forms:designer_schema"),
        ("post", "forms:designer_save"),
        ("post", "forms:designer_publish"),
        ("get", "forms:form_versions"),
    ],
)
def test_a_nurse_cannot_open_the_designer(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion, method: str, name: str
) -> None:
    before = counts()
    client = as_user(people.nurse)
    url = reverse(name, args=["leave_form"])
    response = _post_json(client, url, {"schema": leave_schema()}) if method == "post" else client.get(url)

    assert response.status_code == 403
    assert counts() == before


def test_a_nurse_cannot_create_a_form(as_user: Callable[..., Client], people: SimpleNamespace) -> None:
    client = as_user(people.nurse)

    assert client.get(reverse("forms:form_new")).status_code == 403
    response = client.post(reverse("forms:form_new"), {"key": "x1", "name": "X"})
    assert response.status_code == 403
    assert FormDefinition.objects.count() == 0


# --- the form list ----------------------------------------------------------------------------------


def test_the_list_shows_published_forms_to_a_nurse_and_drafts_to_designers(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion
) -> None:
    services.form_create(actor=people.it.user, key="draft_only", name="草稿表单", schema={"components": []})

    nurse_page = as_user(people.nurse).get(reverse("forms:form_list")).content.decode()
    designer_page = as_user(people.it).get(reverse("forms:form_list")).content.decode()

    assert 'data-key="leave_form"' in nurse_page
    assert reverse("forms:form_fill", args=["leave_form"]) in nurse_page
    assert reverse("forms:designer", args=["leave_form"]) not in nurse_page
    assert 'data-key="draft_only"' not in nurse_page
    assert 'data-key="draft_only"' in designer_page
    assert reverse("forms:designer", args=["draft_only"]) in designer_page
    assert 'data-version="1"' in designer_page


def test_a_new_form_opens_in_the_designer(as_user: Callable[..., Client], people: SimpleNamespace) -> None:
    response = as_user(people.it).post(
        reverse("forms:form_new"), {"key": "visit_log", "name": "探视登记", "category": "护理"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("forms:designer", args=["visit_log"])
    definition = FormDefinition.objects.get(key="visit_log")
    assert (definition.name, definition.category, definition.latest_version) == ("探视登记", "护理", None)
    assert FormDraft.objects.get(definition=definition).schema == {
        "type": "default",
        "id": "visit_log",
        "components": [],
    }


@pytest.mark.parametrize("key,expected_field", [("bad key!", "key"), ("-dash", "key"), ("leave_form", "key")])
def test_a_new_form_with_a_bad_or_taken_key_is_refused_beside_the_key(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion, key: str, expected_field: str
) -> None:
    before = counts()
    response = as_user(people.it).post(reverse("forms:form_new"), {"key": key, "name": "X"})

    assert response.status_code == 400
    assert f'data-field="{expected_field}"' in response.content.decode()
    assert counts() == before


# --- the designer -----------------------------------------------------------------------------------


def test_the_designer_opens_the_draft_saves_and_publishes(
    as_user: Callable[..., Client], people: SimpleNamespace
) -> None:
    client = as_user(people.it)
    services.form_create(actor=people.it.user, key="leave_form", name="请假单", schema={"components": []})

    page = client.get(reverse("forms:designer", args=["leave_form"]))
    assert page.status_code == 200
    assert 'id="designer-editor"' in page.content.decode()
    assert client.get(reverse("forms:designer_schema", args=["leave_form"])).json() == {"components": []}

    saved = _post_json(
        client,
        reverse("forms:designer_save", args=["leave_form"]),
        {"schema": leave_schema(), "name": "请假申请"},
    )
    assert saved.status_code == 200
    assert saved.json()["ok"] is True
    assert client.get(reverse("forms:designer_schema", args=["leave_form"])).json() == leave_schema()

    published = _post_json(client, reverse("forms:designer_publish", args=["leave_form"]), {})
    assert published.status_code == 200
    assert published.json()["ok"] is True
    assert published.json()["version"] == 1
    version = FormVersion.objects.get(definition__key="leave_form")
    assert (version.version, version.schema, version.definition.name) == (1, leave_schema(), "请假申请")


def test_publishing_a_bad_schema_lists_every_problem_and_publishes_nothing(
    as_user: Callable[..., Client], people: SimpleNamespace
) -> None:
    client = as_user(people.it)
    services.form_create(actor=people.it.user, key="broken", name="坏表单", schema={"components": []})
    schema = {
        "components": [
            {"type": "textfield", "key": "a", "label": "A"},
            {"type": "textfield", "key": "a", "label": "A again"},
            {"type": "no-such-type", "key": "b"},
        ]
    }
    _post_json(client, reverse("forms:designer_save", args=["broken"]), {"schema": schema})

    response = _post_json(client, reverse("forms:designer_publish", args=["broken"]), {})

    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False
    paths = sorted(p["path"] for p in body["problems"])
    assert len(paths) >= 2
    assert any(p.startswith("components[1]") for p in paths)
    assert any(p.startswith("components[2]") for p in paths)
    assert all(p["message"] for p in body["problems"])
    assert FormVersion.objects.count() == 0


def test_saving_something_that_is_not_a_schema_is_refused(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion
) -> None:
    client = as_user(people.it)
    before = counts()

    not_json = client.post(
        reverse("forms:designer_save", args=["leave_form"]), data="{nope", content_type="application/json"
    )
    not_object = _post_json(client, reverse("forms:designer_save", args=["leave_form"]), {"schema": [1, 2]})

    assert not_json.status_code == 400
    assert not_json.json()["ok"] is False
    assert not_object.status_code == 400
    assert [e["field"] for e in not_object.json()["errors"]] == ["schema"]
    assert counts() == before


def test_a_published_schema_downloads_as_json(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion
) -> None:
    response = as_user(people.nurse).get(reverse("forms:form_schema", args=["leave_form"]) + "?version=1")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="leave_form-v1.form"'
    assert json.loads(response.content) == leave_schema()
    assert (
        as_user(people.nurse)
        .get(reverse("forms:form_schema", args=["leave_form"]) + "?version=9")
        .status_code
        == 404
    )


# --- filling in -------------------------------------------------------------------------------------


def test_the_fill_page_carries_the_schema_and_version(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion
) -> None:
    response = as_user(people.nurse).get(reverse("forms:form_fill", args=["leave_form"]))

    assert response.status_code == 200
    html = response.content.decode()
    assert _json_script(html, "form-schema") == leave_schema()
    assert 'data-version="1"' in html
    assert "<script>" not in html  # no inline script (CSP)


def test_empty_data_comes_back_with_the_required_errors_per_field(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion
) -> None:
    before = counts()
    response = _post_json(
        as_user(people.nurse), reverse("forms:form_fill", args=["leave_form"]), {"data": {}, "version": 1}
    )

    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False
    assert sorted((e["field"], e["code"]) for e in body["errors"]) == [
        ("days", "required"),
        ("title", "required"),
    ]
    assert counts() == before


def test_good_data_becomes_a_record_of_the_nurse(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion
) -> None:
    response = _post_json(
        as_user(people.nurse),
        reverse("forms:form_fill", args=["leave_form"]),
        {"data": good_data(), "version": 1},
    )

    assert response.status_code == 201
    record = FormRecord.objects.get()
    assert response.json() == {
        "ok": True,
        "record": record.pk,
        "record_url": reverse("forms:record_detail", args=[record.pk]),
    }
    assert (record.submitter, record.department, record.version) == (
        people.nurse,
        people.nurse.department,
        leave,
    )
    assert record.values["title"] == "年休假"
    assert record.values["days"] == 3


def test_data_for_an_older_version_is_a_conflict(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion
) -> None:
    services.form_schema_publish(
        actor=people.it.user, schema=leave_schema(components=leave_schema()["components"][:2])
    )
    before = counts()

    response = _post_json(
        as_user(people.nurse),
        reverse("forms:form_fill", args=["leave_form"]),
        {"data": good_data(), "version": 1},
    )

    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "version"
    assert counts() == before


def test_a_form_never_published_cannot_be_filled(
    as_user: Callable[..., Client], people: SimpleNamespace
) -> None:
    services.form_create(actor=people.it.user, key="draft_only", name="草稿", schema={"components": []})

    assert as_user(people.nurse).get(reverse("forms:form_fill", args=["draft_only"])).status_code == 404


# --- records --------------------------------------------------------------------------------------


def _listed(client: Client, key: str = "leave_form", **query: Any) -> list[int]:
    response = client.get(reverse("forms:record_list", args=[key]), query)
    assert response.status_code == 200, response.content.decode()[:2000]
    return [int(pk) for pk in re.findall(r'<tr data-record="(\d+)">', response.content.decode())]


def test_a_nurse_sees_only_her_records_and_the_head_his_department(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion
) -> None:
    mine = _submit(people.nurse)
    colleague = _submit(people.nurse2)
    surgeon = _submit(people.surgeon)

    assert _listed(as_user(people.nurse)) == [mine.pk]
    assert _listed(as_user(people.head)) == [colleague.pk, mine.pk]
    assert _listed(as_user(people.office)) == [surgeon.pk, colleague.pk, mine.pk]


def test_another_departments_record_is_not_found(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion
) -> None:
    record = _submit(people.nurse)
    url = reverse("forms:record_detail", args=[record.pk])

    assert as_user(people.surgeon).get(url).status_code == 404
    assert as_user(people.nurse2).get(url).status_code == 404
    assert as_user(people.head).get(url).status_code == 200


def test_the_record_page_shows_values_with_names(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion, media: Any
) -> None:
    attachment = services.attachment_upload(actor=people.nurse.user, file=upload())
    record = _submit(people.nurse, deputy=people.nurse2.pk, dept="CARD", files=[attachment.pk])

    response = as_user(people.nurse).get(reverse("forms:record_detail", args=[record.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert _json_script(html, "form-data") == record.values
    assert _json_script(html, "form-names") == {
        "staff": {str(people.nurse2.pk): "何护士"},
        "departments": {"CARD": "心血管内科"},
        "attachments": {attachment.pk: "scan.png"},
    }
    assert 'data-mode="read"' in html


def test_filters_search_sort_and_paging(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion
) -> None:
    short = _submit(people.nurse, title="短假", days=1)
    long = _submit(people.nurse, title="长假期", days=20, kind="sick")
    middle = _submit(people.nurse, title="中等假期", days=5)
    client = as_user(people.nurse)

    assert _listed(client, f_title="假期") == [middle.pk, long.pk]
    assert _listed(client, f_days__gte="2", f_days__lte="10") == [middle.pk]
    assert _listed(client, q="长假") == [long.pk]
    assert _listed(client, sort="days") == [short.pk, middle.pk, long.pk]
    assert _listed(client, sort="-days") == [long.pk, middle.pk, short.pk]
    assert _listed(client, sort="submitted_at") == [short.pk, long.pk, middle.pk]
    page = client.get(reverse("forms:record_list", args=["leave_form"]), {"page_size": "20", "page": "1"})
    assert 'data-total="3"' in page.content.decode()


def test_paging_shows_the_asked_page(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion
) -> None:
    records = [_submit(people.nurse, days=n) for n in range(1, 23)]
    client = as_user(people.nurse)

    first = _listed(client, sort="days")
    second = _listed(client, sort="days", page="2")

    assert first == [r.pk for r in records[:20]]
    assert second == [r.pk for r in records[20:]]


@pytest.mark.parametrize(
    "query", [{"sort": "nonsense"}, {"f_days__gte": "many"}, {"submitted_from": "yesterday"}, {"page": "0"}]
)
def test_bad_filters_are_refused_beside_their_input(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion, query: dict[str, str]
) -> None:
    _submit(people.nurse)

    response = as_user(people.nurse).get(reverse("forms:record_list", args=["leave_form"]), query)

    assert response.status_code == 400
    assert "field-error" in response.content.decode()
    assert "<tr data-record=" not in response.content.decode()


def test_export_holds_the_records_one_may_see(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion
) -> None:
    mine = _submit(people.nurse, title="我的假")
    _submit(people.surgeon, title="外科的假")

    response = as_user(people.nurse).get(reverse("forms:record_export", args=["leave_form"]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2
    assert rows[1][0] == mine.pk
    assert "我的假" in rows[1]


def _workbook(header: list[str], *rows: list[Any]) -> io.BytesIO:
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    out.name = "import.xlsx"
    return out


def _export_header(client: Client) -> list[str]:
    response = client.get(reverse("forms:record_export", args=["leave_form"]))
    return [
        str(c) for c in next(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    ]


def test_import_with_a_bad_row_imports_nothing_and_shows_the_row(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion
) -> None:
    client = as_user(people.nurse)
    header = _export_header(client)
    title, days = header.index("标题"), header.index("天数")
    good = [None] * len(header)
    good[title], good[days] = "进修", 3
    bad = [None] * len(header)
    bad[title], bad[days] = "进修二", 99
    before = counts()

    response = client.post(
        reverse("forms:record_list", args=["leave_form"]), {"file": _workbook(header, good, bad)}
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="import-errors"' in html
    assert '<tr data-row="3">' in html
    assert counts() == before


def test_import_of_good_rows_adds_the_records(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion
) -> None:
    client = as_user(people.nurse)
    header = _export_header(client)
    title, days = header.index("标题"), header.index("天数")
    rows = []
    for n, name in enumerate(["进修一", "进修二"], start=1):
        row = [None] * len(header)
        row[title], row[days] = name, n
        rows.append(row)

    response = client.post(
        reverse("forms:record_list", args=["leave_form"]), {"file": _workbook(header, *rows)}
    )

    assert response.status_code == 302
    assert sorted(FormRecord.objects.values_list("values__title", flat=True)) == ["进修一", "进修二"]


def test_import_refuses_a_file_that_is_not_xlsx(
    as_user: Callable[..., Client], people: SimpleNamespace, leave: FormVersion
) -> None:
    file = io.BytesIO(b"a,b\n1,2\n")
    file.name = "rows.csv"

    response = as_user(people.nurse).post(reverse("forms:record_list", args=["leave_form"]), {"file": file})

    assert response.status_code == 400
    assert 'data-field="file"' in response.content.decode()
    assert FormRecord.objects.count() == 0


# --- lookups and attachments ------------------------------------------------------------------------


def test_the_staff_and_department_lookups_answer_json(
    as_user: Callable[..., Client], people: SimpleNamespace
) -> None:
    client = as_user(people.nurse)

    staff = client.get(reverse("forms:staff_lookup"), {"q": "护士"}).json()
    departments = client.get(reverse("forms:department_lookup"), {"q": "心"}).json()
    empty = client.get(reverse("forms:staff_lookup"), {"q": ""}).json()

    assert sorted(r["name"] for r in staff["results"]) == ["何护士", "李护士"]
    assert {r["id"] for r in staff["results"]} == {people.nurse.pk, people.nurse2.pk}
    assert sorted(r["code"] for r in departments["results"]) == ["CARD", "CARD-W1"]
    assert empty == {"results": []}


def test_an_upload_is_downloaded_by_its_uploader_only(
    as_user: Callable[..., Client], people: SimpleNamespace, media: Any
) -> None:
    response = as_user(people.nurse).post(reverse("forms:attachment_upload"), {"file": upload()})

    assert response.status_code == 201
    token = response.json()["id"]
    assert response.json()["name"] == "scan.png"
    mine = as_user(people.nurse).get(reverse("forms:attachment_download", args=[token]))
    assert mine.status_code == 200
    assert b"".join(mine.streaming_content) == PNG
    assert mine["X-Content-Type-Options"] == "nosniff"
    assert as_user(people.nurse2).get(reverse("forms:attachment_download", args=[token])).status_code == 404


def test_an_upload_of_the_wrong_type_is_refused(
    as_user: Callable[..., Client], people: SimpleNamespace, media: Any
) -> None:
    response = as_user(people.nurse).post(
        reverse("forms:attachment_upload"), {"file": upload("report.pdf", PNG, "application/pdf")}
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "file"
    assert FormAttachment.objects.count() == 0
