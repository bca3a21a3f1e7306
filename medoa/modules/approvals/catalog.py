"""The catalog of request types (请假, 报销, 采购 …): what a person may start in the approval centre.

Each type is a ``RequestType``: its BPMN model and start form shipped in this package, the schema
of the API's ``data``, and two functions — ``prepare`` (validated data + initiator → the process
variables: computed totals, days, routing facts) and ``summary`` (one line for lists).
``ApprovalsConfig.ready()`` registers every type in ``medoa.modules.approvals.types.ALL``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from medoa.core.org.models import Staff
from medoa.core.registries import Registry

from .errors import ApprovalInputError

__all__ = ["PACKAGE_DIR", "ApprovalInputError", "RequestType", "form_path", "request_types"]

PACKAGE_DIR = Path(__file__).resolve().parent


def form_path(key: str) -> Path:
    """The shipped form-js schema of a request type (``forms/<key>.json``)."""
    return PACKAGE_DIR / "forms" / f"{key}.json"


@dataclass(frozen=True)
class RequestType:
    key: str  # "leave", "reimbursement", … (the API's "type")
    name: Any  # lazy zh/en label
    category: Any  # catalog group: 人事 / 财务 / 行政 / 医务 …
    process_key: str  # the BPMN process id deployed by the module
    bpmn: Path  # the shipped model file (processes/<key>.bpmn)
    form_key: str  # the start form (form engine), shipped as forms/<key>.json
    data_schema: type[pydantic.BaseModel]  # the API body's "data" for this type
    # validated data (``data_schema(...).model_dump(mode="json")``) + initiator → process variables;
    # raises ApprovalInputError(field, message) for bad input
    prepare: Callable[[Staff, dict[str, Any]], dict[str, Any]]
    summary: Callable[[dict[str, Any]], str]  # one line for lists ("年假 3天 11-02~11-04")
    icon: str = ""
    order: int = 100
    keywords: tuple[str, ...] = ()
    description: Any = ""
    # called in the transaction that ends the request: (request, outcome "approved"/"rejected")
    on_finish: Callable[[Any, str], None] | None = None
    # hospital-wide roles whose holders get a copy (抄送) of every request of this type at submission
    copy_roles: tuple[str, ...] = ()

    @property
    def form_file(self) -> Path:
        return form_path(self.form_key)


request_types: Registry[RequestType] = Registry("approval request types")


def ordered() -> list[RequestType]:
    return sorted(request_types, key=lambda t: (t.order, t.key))
