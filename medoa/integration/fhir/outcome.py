"""OperationOutcome: how every FHIR answer that is not a resource says what happened.

``Issue`` is one ``OperationOutcome.issue`` (severity, code from the FHIR issue-type value set,
diagnostics, and the FHIRPath ``expression`` of the element at fault); ``FhirProblem`` carries
issues and the HTTP status up to the view, which answers ``outcome(issues)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class Issue:
    severity: str  # fatal | error | warning | information
    code: str  # invalid | structure | required | value | processing | not-supported | login | forbidden …
    diagnostics: str
    expression: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            data["expression"] = list(self.expression)
        return data


@dataclass
class FhirProblem(Exception):
    """A request or resource MedOA refuses: ``status`` (400, 401, 403, 404, 413, 415, 422 …) and
    the issues that say why."""

    status: int
    issues: list[Issue] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(i.diagnostics for i in self.issues)


def problem(
    status: int, code: str, diagnostics: str, *expression: str, severity: str = "error"
) -> FhirProblem:
    return FhirProblem(status, [Issue(severity, code, diagnostics, tuple(e for e in expression if e))])


def outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    items = [i.as_json() for i in issues]
    if not items:
        items = [{"severity": "information", "code": "informational", "diagnostics": "OK"}]
    return {"resourceType": "OperationOutcome", "issue": items}


def info(diagnostics: str) -> list[Issue]:
    return [Issue("information", "informational", diagnostics)]


def pydantic_issues(errors: Sequence[Mapping[str, Any]], root: str, *, limit: int = 20) -> list[Issue]:
    """fhir.resources' validation errors as issues with FHIRPath expressions
    (``Encounter.period.start``, ``Bundle.entry[2].resource.status``)."""
    issues = []
    for err in errors[:limit]:
        path = root
        for part in err.get("loc", ()):
            if isinstance(part, int):
                path += f"[{part}]"
            elif part == "resource_type":
                path += ".resourceType"
            elif part == "class_fhir":
                path += ".class"
            else:
                path += f".{part}"
        message = str(err.get("msg", "invalid")).split("\n")[0].strip()
        code = "structure" if err.get("type") == "extra_forbidden" else "invalid"
        if err.get("type") == "missing":
            code = "required"
        issues.append(Issue("error", code, f"{path}: {message}", (path,)))
    if len(errors) > limit:
        issues.append(Issue("error", "invalid", f"… and {len(errors) - limit} more errors"))
    return issues
