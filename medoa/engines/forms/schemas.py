"""Input and output schemas of the form engine's REST API (``medoa.engines.forms.api``).

Inputs forbid unknown fields. ``data`` must be a JSON object; its fields are checked by the form's
own validation (per field, ``code`` from validation's vocabulary), not here.
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from medoa.core.apierrors import ErrorOut


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid")


# --- errors ---------------------------------------------------------------------------------------


class FieldErrorOut(Schema):
    field: str
    message: str
    message_en: str
    type: str
    code: str = ""


class InvalidOut(ErrorOut):
    errors: list[FieldErrorOut] = []


class ProblemOut(Schema):
    path: str = Field(..., description="Where in the schema, e.g. components[3].validate.min")
    code: str
    message: str
    message_en: str


class SchemaInvalidOut(ErrorOut):
    problems: list[ProblemOut]


class RowErrorOut(Schema):
    row: int = Field(..., description="The spreadsheet row (1 is the header)")
    field: str
    code: str
    message: str
    message_en: str


class ImportInvalidOut(ErrorOut):
    errors: list[RowErrorOut]


# --- forms ----------------------------------------------------------------------------------------


class PublishParams(Schema):
    key: str | None = Field(None, description="The form key (default: the schema's id)")
    name: str | None = None
    category: str | None = None


class PublishedOut(Schema):
    key: str
    version: int


class FormOut(Schema):
    key: str
    name: str
    category: str
    version: int | None
    published_at: datetime.datetime | None


class ReportingFieldOut(Schema):
    key: str
    kind: Literal["text", "number", "date"]


class FormDetailOut(FormOut):
    schema_: dict[str, Any] = Field(..., alias="schema")
    reporting: list[ReportingFieldOut]
    versions: list[int]


class VersionParams(Schema):
    version: int | None = Field(None, ge=1, description="A published version (default: the current one)")


class ValidateIn(StrictIn):
    data: dict[str, Any]
    version: int | None = Field(None, ge=1)


class ValidationErrorOut(Schema):
    field: str
    code: str
    message: str
    message_en: str


class ValidateOut(Schema):
    valid: bool
    errors: list[ValidationErrorOut]


# --- records --------------------------------------------------------------------------------------


class RecordIn(StrictIn):
    data: dict[str, Any]
    version: int | None = Field(
        None, ge=1, description="The version the data was filled in for; another than the current one: 409"
    )
    status: Literal["submitted", "draft"] = "submitted"
    subject: str = Field("", max_length=200)


class RecordUpdateIn(StrictIn):
    data: dict[str, Any]


class PersonOut(Schema):
    id: int
    name: str
    username: str


class RecordOut(Schema):
    id: int
    key: str
    version: int
    status: str
    source: str
    subject: str
    submitter: PersonOut | None
    department: str | None
    submitted_at: datetime.datetime
    updated_at: datetime.datetime
    data: dict[str, Any]


class RecordPageOut(Schema):
    items: list[RecordOut]
    total: int
    page: int
    page_size: int
    pages: int


class ImportedOut(Schema):
    created: int
    ids: list[int]


# --- attachments ----------------------------------------------------------------------------------


class AttachmentOut(Schema):
    id: str
    name: str
    size: int
    content_type: str
    sha256: str
    url: str
