"""Turning a sending system's codes into MedOA's (the ``CodeMapping`` tables).

A :class:`CodeResolver` caches what it reads, so one resolver serves a whole batch of facts: the
HL7 processor makes one per batch, a one-off caller (FHIR) gets a fresh one per call.

Rules (documented in docs/integration.md, "Mapping"):

- department and ward: a mapping for (kind, sending facility), else for (kind, ``*``), else the code
  itself when it is a MedOA department code; otherwise :class:`UnmappedCode` (the message waits).
- bed: a mapping, else the code as sent (beds are codes of the bed board, issue 7).
- doctor: a mapping to a username, else the staff member whose employee number is the code, else
  a user with that username; otherwise empty (the sender's code is kept on the encounter).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from medoa.core.org.choices import DepartmentKind
from medoa.core.org.models import Department, Staff

from .choices import CodeKind
from .errors import UnmappedCode
from .models import CodeMapping, Encounter, EncounterMovement, Patient


class CodeResolver:
    """Code lookups for a batch of facts — and, after ``prefetch()``, the batch's patients and
    encounters read in two queries instead of two per fact (only for a caller that redoes the
    whole batch should a write fail: cached rows would otherwise outlive a rolled-back savepoint)."""

    def __init__(self) -> None:
        self.records = False
        self._patients: dict[tuple[str, str], Patient] = {}
        self._identifiers: set[str] = set()
        self._encounters: dict[tuple[str, str], Encounter] = {}
        self._visits: set[str] = set()
        self._movements: list[EncounterMovement] = []
        self._tables: dict[tuple[str, str], dict[str, str]] = {}
        self._departments: dict[str, tuple[str, str]] | None = None
        self._doctors: dict[str, str] = {}

    def _table(self, kind: str, facility: str) -> dict[str, str]:
        key = (kind, facility)
        table = self._tables.get(key)
        if table is None:
            rows = CodeMapping.objects.filter(kind=kind, facility__in={facility, "*"}).values_list(
                "facility", "external_code", "internal_code"
            )
            table = {}
            # the facility's own mapping wins over the "*" one
            for _fac, external, internal in sorted(rows, key=lambda r: r[0] != "*"):
                table[external] = internal
            self._tables[key] = table
        return table

    def departments(self) -> dict[str, tuple[str, str]]:
        """MedOA department code → (kind, parent's code)."""
        if self._departments is None:
            self._departments = {
                code: (kind, parent or "")
                for code, kind, parent in Department.objects.values_list("code", "kind", "parent__code")
            }
        return self._departments

    def department_of_ward(self, ward: str) -> str:
        """The department a MedOA ward belongs to (its parent), or ``""``."""
        kind, parent = self.departments().get(ward, ("", ""))
        return parent if kind == DepartmentKind.WARD else ""

    def lookup(self, kind: str, code: str, facility: str) -> str | None:
        """The mapped code, or ``None`` when no mapping names it."""
        return self._table(kind, facility).get(code)

    def department(self, code: str, facility: str, *, kind: str = CodeKind.DEPARTMENT) -> str:
        code = (code or "").strip()
        if not code:
            return ""
        mapped = self.lookup(kind, code, facility)
        if mapped is not None:
            return mapped
        if code in self.departments():
            return code
        raise UnmappedCode(str(kind), code, facility=facility)

    def ward(self, code: str, facility: str) -> str:
        return self.department(code, facility, kind=CodeKind.WARD)

    def ward_or_empty(self, code: str, facility: str) -> str:
        try:
            return self.ward(code, facility)
        except UnmappedCode:
            return ""

    def bed(self, code: str, facility: str) -> str:
        code = (code or "").strip()
        if not code:
            return ""
        mapped = self.lookup(CodeKind.BED, code, facility)
        return mapped if mapped is not None else code

    def doctor(self, code: str, facility: str) -> str:
        """A MedOA username for the sender's doctor code, or ``""``."""
        code = (code or "").strip()
        if not code:
            return ""
        mapped = self.lookup(CodeKind.DOCTOR, code, facility)
        if mapped is not None:
            return mapped
        if code not in self._doctors:
            username = Staff.objects.filter(employee_no=code).values_list("user__username", flat=True).first()
            if username is None:
                user_model = get_user_model()
                field = user_model.USERNAME_FIELD
                username = (
                    user_model._default_manager.filter(**{field: code}).values_list(field, flat=True).first()
                )
            self._doctors[code] = username or ""
        return self._doctors[code]

    # --- the batch's patients and encounters ------------------------------------------------------

    def prefetch(self, *, identifiers: set[str], visits: set[str]) -> None:
        self.records = True
        wanted = identifiers - self._identifiers
        if wanted:
            for patient in Patient.objects.filter(identifier__in=wanted):
                self._patients[(patient.authority, patient.identifier)] = patient
            self._identifiers |= wanted
        wanted = visits - self._visits
        if wanted:
            for enc in Encounter.objects.filter(visit_number__in=wanted):
                self._encounters[(enc.authority, enc.visit_number)] = enc
            self._visits |= wanted

    def patient(self, authority: str, identifier: str) -> Patient | None:
        if self.records and identifier in self._identifiers:
            return self._patients.get((authority, identifier))
        return Patient.objects.filter(authority=authority, identifier=identifier).first()

    def remember_patient(self, patient: Patient) -> None:
        if self.records:
            self._patients[(patient.authority, patient.identifier)] = patient
            self._identifiers.add(patient.identifier)

    def encounter(self, authority: str, visit: str) -> Encounter | None:
        if self.records and visit in self._visits:
            return self._encounters.get((authority, visit))
        return Encounter.objects.filter(authority=authority, visit_number=visit).first()

    def same_encounter(self, enc: Encounter | None) -> Encounter | None:
        """The batch's instance of ``enc`` when it holds one (so that one object carries the writes)."""
        if enc is not None and self.records and enc.visit_number:
            cached = self._encounters.get((enc.authority, enc.visit_number))
            if cached is not None and cached.pk == enc.pk:
                return cached
        return enc

    def remember_encounter(self, enc: Encounter) -> None:
        if self.records and enc.visit_number:
            self._encounters[(enc.authority, enc.visit_number)] = enc
            self._visits.add(enc.visit_number)

    def add_movement(self, movement: EncounterMovement) -> None:
        """Write an encounter's movement now, or — on the batch's fast path — with the batch's
        others in one insert at ``flush()``."""
        if self.records:
            self._movements.append(movement)
        else:
            movement.save(force_insert=True)

    def flush(self) -> None:
        """Write what the batch held back (call before the batch's transaction commits)."""
        if self._movements:
            EncounterMovement.objects.bulk_create(self._movements)
            self._movements = []
