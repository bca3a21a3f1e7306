"""The record list (selectors): filters on reporting fields through the side table, the record's
own columns, search, sort, paging, all narrowed to the viewer's scope; and a pinned query count."""

# The fixtures come from factories (imported below): the test parameters naming them are not
# redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from medoa.engines.forms import selectors, services
from medoa.engines.forms.errors import FormsInputError, FormsNotFound
from medoa.engines.forms.models import FormRecord, FormVersion

from .factories import (  # noqa: F401  (fixtures)
    good_data,
    grants,
    hospital,
    leave,
    leave_schema,
    media,
    people,
    person,
)


@pytest.fixture
def records(people: SimpleNamespace, leave: FormVersion) -> SimpleNamespace:
    def submit(staff: Any, **changes: Any) -> FormRecord:
        return services.record_submit(actor=staff.user, key="leave_form", data=good_data(**changes))

    return SimpleNamespace(
        a=submit(people.nurse, title="年休假", days=3, kind="annual", start="2026-03-02", tags=["night"]),
        b=submit(
            people.nurse2,
            title="病假申请",
            days=10,
            kind="sick",
            start="2026-04-10",
            tags=["urgent", "night"],
        ),
        c=submit(people.surgeon, title="外科年假", days=1, kind="annual", start="2026-05-01", tags=[]),
        d=submit(people.office, title="探亲假", days=20, kind=None, start="2026-03-20", tags=["urgent"]),
    )


def _ids(viewer: Any, **kw: Any) -> list[int]:
    kw.setdefault("sort", "id")
    return [r.pk for r in selectors.record_list(viewer=viewer, key="leave_form", **kw).items]


def test_filters_on_reporting_fields(people: SimpleNamespace, records: SimpleNamespace) -> None:
    v = people.office.user
    r = records
    assert _ids(v, filters={"kind": "annual"}) == [r.a.pk, r.c.pk]
    assert _ids(v, filters={"kind__ne": "annual"}) == [r.b.pk, r.d.pk]
    assert _ids(v, filters={"days__gte": "3", "days__lt": 20}) == [r.a.pk, r.b.pk]
    assert _ids(v, filters={"days__in": "1,20"}) == [r.c.pk, r.d.pk]
    assert _ids(v, filters={"start__gte": "2026-03-15", "start__lte": "2026-04-30"}) == [r.b.pk, r.d.pk]
    assert _ids(v, filters={"tags": "urgent"}) == [r.b.pk, r.d.pk]
    assert _ids(v, filters={"tags": "night", "kind": "sick"}) == [r.b.pk]
    assert _ids(v, filters={"title__contains": "年"}) == [r.a.pk, r.c.pk]
    assert _ids(v, filters={"kind": ""}) == [r.a.pk, r.b.pk, r.c.pk, r.d.pk]  # empty: no filter


def test_filters_on_record_columns(
    people: SimpleNamespace, records: SimpleNamespace, hospital: SimpleNamespace
) -> None:
    v = people.office.user
    r = records
    assert _ids(v, filters={"department": "CARD"}) == [r.a.pk, r.b.pk]
    assert _ids(v, filters={"submitter": str(people.surgeon.pk)}) == [r.c.pk]
    assert _ids(v, filters={"status": "submitted,approved"}) == [r.a.pk, r.b.pk, r.c.pk, r.d.pk]
    services.record_status_set(actor=people.head.user, record=r.a, status="approved", authorized=True)
    assert _ids(v, filters={"status": "approved"}) == [r.a.pk]
    today = datetime.date.today().isoformat()
    assert len(_ids(v, filters={"submitted_from": today})) == 4
    assert _ids(v, filters={"version": "2"}) == []
    assert _ids(v, filters={"source": "web"}) == [r.a.pk, r.b.pk, r.c.pk, r.d.pk]


def test_search_sort_and_paging(people: SimpleNamespace, records: SimpleNamespace) -> None:
    v = people.office.user
    r = records
    assert _ids(v, search="年") == [r.a.pk, r.c.pk]  # a reporting value
    assert _ids(v, search="钱医生") == [r.c.pk]  # the submitter's name
    assert _ids(v, sort="days") == [r.c.pk, r.a.pk, r.b.pk, r.d.pk]
    assert _ids(v, sort="-days") == [r.d.pk, r.b.pk, r.a.pk, r.c.pk]
    assert _ids(v, sort="kind")[-1] == r.d.pk  # no value: last
    assert _ids(v, sort="-start") == [r.c.pk, r.b.pk, r.d.pk, r.a.pk]
    assert _ids(v, sort="-id") == [r.d.pk, r.c.pk, r.b.pk, r.a.pk]
    page = selectors.record_list(viewer=v, key="leave_form", sort="days", page=2, page_size=3)
    assert ([x.pk for x in page.items], page.total, page.pages) == ([r.d.pk], 4, 2)
    # sorted by a field: records without a value last, in both directions, and across pages
    assert _ids(v, sort="kind") == [r.a.pk, r.c.pk, r.b.pk, r.d.pk]
    assert _ids(v, sort="-kind") == [r.b.pk, r.c.pk, r.a.pk, r.d.pk]
    for sort in ("kind", "-kind", "days", "-start"):
        pages = [
            [
                x.pk
                for x in selectors.record_list(
                    viewer=v, key="leave_form", sort=sort, page=n, page_size=3
                ).items
            ]
            for n in (1, 2)
        ]
        assert pages[0] + pages[1] == _ids(v, sort=sort), sort
        # the same order where the scope is narrower (the general path)
        head = _ids(people.head.user, sort=sort)
        assert head == [i for i in _ids(v, sort=sort) if i in (r.a.pk, r.b.pk)], sort
    assert _ids(v, sort="-kind", filters={"days__gte": 3}) == [r.b.pk, r.a.pk, r.d.pk]
    empty = selectors.record_list(viewer=v, key="leave_form", page=9, page_size=3)
    assert (empty.items, empty.total) == ([], 4)


def test_scope_narrows_every_query(people: SimpleNamespace, records: SimpleNamespace) -> None:
    r = records
    assert _ids(people.nurse.user) == [r.a.pk]
    assert _ids(people.head.user, filters={"tags": "night"}) == [r.a.pk, r.b.pk]
    assert _ids(people.surgeon.user, filters={"kind": "annual"}) == [r.c.pk]
    assert _ids(people.it.user) == []
    with pytest.raises(FormsNotFound):
        selectors.record_get(viewer=people.nurse.user, record_id=r.b.pk)
    assert selectors.record_get(viewer=people.head.user, record_id=r.b.pk) == r.b


def test_old_versions_reporting_fields_stay_filterable(
    people: SimpleNamespace, records: SimpleNamespace
) -> None:
    changed = leave_schema()
    changed["components"][2].pop("properties")  # kind no longer reported in v2
    services.form_schema_publish(actor=people.it.user, schema=changed)
    assert _ids(people.office.user, filters={"kind": "sick"}) == [records.b.pk]


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"filters": {"reason": "x"}}, "filters.reason"),
        ({"filters": {"days": "1e400"}}, "filters.days"),
        ({"filters": {"days__contains": "1"}}, "filters.days__contains"),
        ({"filters": {"department": "NOPE"}}, "filters.department"),
        ({"filters": {"submitter": "-1"}}, "filters.submitter"),
        ({"filters": {"kind__in": ",".join(["a"] * 101)}}, "filters.kind__in"),
        ({"sort": "reason"}, "sort"),
        ({"page": 0}, "page"),
        ({"page_size": 201}, "page_size"),
    ],
)
def test_bad_list_arguments_name_the_argument(
    people: SimpleNamespace, records: SimpleNamespace, kw: dict[str, Any], field: str
) -> None:
    with pytest.raises(FormsInputError) as caught:
        selectors.record_list(viewer=people.office.user, key="leave_form", **kw)
    assert caught.value.field == field


def test_list_query_count_is_fixed(people: SimpleNamespace, records: SimpleNamespace) -> None:
    viewer = people.office.user
    selectors.record_list(viewer=viewer, key="leave_form")  # principal loaded
    with CaptureQueriesContext(connection) as first:
        selectors.record_list(viewer=viewer, key="leave_form", filters={"kind": "annual", "days__gte": 1})
    for _ in range(5):
        services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data())
    with CaptureQueriesContext(connection) as second:
        page = selectors.record_list(
            viewer=viewer, key="leave_form", filters={"kind": "annual", "days__gte": 1}
        )
    assert len(page.items) == 7
    # the definition, its reporting fields, the count, the page's ids, its records (joined)
    assert len(first) == len(second) == 5
