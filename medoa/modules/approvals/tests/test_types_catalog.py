"""PROC's request types: registered in the catalog, their forms accepted by the form engine, their
models deployed by the approval centre's installer, and each form's fields the same as the type's
API data (the form engine refuses a key the form does not have)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from medoa.engines.flow.models import ProcessDefinition
from medoa.engines.forms import services as forms_services
from medoa.engines.forms.models import FormDefinition
from medoa.modules.approvals.catalog import request_types
from medoa.modules.approvals.types import ALL, PROC_FUNCTIONS

from .proc_support import *  # noqa: F403
from .proc_support import install

PROC_TYPES = (
    "business_trip",
    "further_study",
    "reimbursement",
    "procurement",
    "seal",
    "contract",
    "document",
)


def test_every_type_is_in_the_catalog() -> None:
    keys = [t.key for t in ALL]

    assert set(PROC_TYPES) <= set(keys)
    for key in PROC_TYPES:
        request_type = request_types.get(key)
        assert request_type.process_key == request_type.form_key == f"approvals_{key}"
        assert request_type.bpmn.is_file() and request_type.form_file.is_file()


@pytest.mark.parametrize("key", PROC_TYPES)
def test_the_form_fields_are_the_api_data(key: str) -> None:
    request_type = request_types.get(key)
    schema = json.loads(request_type.form_file.read_text(encoding="utf-8"))
    form_keys = {c.get("key") or c.get("path") for c in schema["components"] if not c.get("doNotSubmit")}

    assert form_keys == set(request_type.data_schema.model_fields)


@pytest.mark.django_db
def test_the_installer_publishes_every_form_and_deploys_every_model(people: SimpleNamespace) -> None:
    installed = install(people, *PROC_TYPES)

    assert sorted(installed) == sorted(PROC_TYPES)
    for key in PROC_TYPES:
        assert FormDefinition.objects.get(key=f"approvals_{key}").latest_version is not None
        assert ProcessDefinition.objects.get(key=f"approvals_{key}").latest_version is not None
    assert install(people, *PROC_TYPES) == []  # deployed models are left alone


@pytest.mark.django_db
@pytest.mark.parametrize("key", PROC_TYPES)
def test_the_form_engine_accepts_each_form(people: SimpleNamespace, key: str) -> None:
    request_type = request_types.get(key)
    schema = json.loads(request_type.form_file.read_text(encoding="utf-8"))

    version = forms_services.form_schema_publish(actor=people.admin.user, schema=schema, key=f"check_{key}")

    assert version.version == 1


def test_the_script_steps_are_registered() -> None:
    from medoa.engines.flow.registry import service_functions

    for name in (*PROC_FUNCTIONS, "approvals.finish"):
        assert name in service_functions
