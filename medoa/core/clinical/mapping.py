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

from collections.abc import Iterable, Sequence
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.db import connection, models

from medoa.core.events.services import insert_rows
from medoa.core.org.choices import DepartmentKind
from medoa.core.org.models import Department, Staff

from .choices import CodeKind
from .errors import UnmappedCode
from .models import CodeMapping, Encounter, EncounterMovement, Observation, Patient, Result


class CodeResolver:
    """Code lookups for a batch of facts — and, after ``prefetch()``, the batch's patients and
    encounters read in two queries instead of two per fact, and the batch's writes held back and
    written together by ``flush()``: new patients, encounters, results, observations and movements
    in one insert each, changed patients and encounters in one prepared update each (only for a
    caller that redoes the whole batch should a write fail: cached rows would otherwise outlive a
    rolled-back savepoint)."""

    def __init__(self) -> None:
        self.records = False
        self._patients: dict[tuple[str, str], Patient] = {}
        self._identifiers: set[str] = set()
        self._encounters: dict[tuple[str, str], Encounter] = {}
        self._visits: set[str] = set()
        self._movements: list[EncounterMovement] = []
        # the batch's held-back writes (by object identity: one object carries a row's writes)
        self._new_patients: dict[int, Patient] = {}
        self._changed_patients: dict[int, tuple[Patient, set[str]]] = {}
        self._new_encounters: dict[int, Encounter] = {}
        self._changed_encounters: dict[int, Encounter] = {}
        self._results: list[tuple[Result, list[Observation]]] = []
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

    def prefetch(self, *, identifiers: set[str], visits: set[str], doctors: Iterable[str] = ()) -> None:
        self.records = True
        self._prefetch_doctors({(d or "").strip() for d in doctors} - {""} - set(self._doctors))
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

    def _prefetch_doctors(self, codes: set[str]) -> None:
        """``doctor()``'s fallbacks for many codes in two queries (a mapping still wins)."""
        if not codes:
            return
        found = {
            code: username
            for code, username in Staff.objects.filter(employee_no__in=codes)
            .order_by()
            .values_list("employee_no", "user__username")
            if username is not None
        }
        rest = codes - set(found)
        if rest:
            user_model = get_user_model()
            field = user_model.USERNAME_FIELD
            for username in user_model._default_manager.filter(**{f"{field}__in": rest}).values_list(
                field, flat=True
            ):
                found[username] = username
        for code in codes:
            self._doctors[code] = found.get(code) or ""

    def patient(self, authority: str, identifier: str) -> Patient | None:
        if self.records and identifier in self._identifiers:
            return self._patients.get((authority, identifier))
        return Patient.objects.filter(authority=authority, identifier=identifier).first()

    def remember_patient(self, patient: Patient) -> None:
        if self.records:
            self._patients[(patient.authority, patient.identifier)] = patient
            self._identifiers.add(patient.identifier)

    def save_patient(self, patient: Patient, fields: Sequence[str] | None = None) -> None:
        """Create ``patient`` (no pk yet) or write its ``fields`` — now, or on the fast path at
        ``flush()``."""
        if not self.records:
            if patient.pk is None:
                patient.save(force_insert=True)
            else:
                patient.save(update_fields=fields)
            return
        if patient.pk is None:
            self._new_patients[id(patient)] = patient
        else:
            _obj, wanted = self._changed_patients.setdefault(id(patient), (patient, set()))
            wanted.update(fields or [f.name for f in Patient._meta.concrete_fields if not f.primary_key])

    def save_encounter(self, enc: Encounter, *, create: bool = False) -> None:
        """Create (``create``) or write ``enc`` — now, or on the fast path at ``flush()``."""
        if not self.records:
            enc.save(force_insert=create)
        elif enc.pk is None:
            self._new_encounters[id(enc)] = enc
        else:
            self._changed_encounters[id(enc)] = enc

    def add_result(self, result: Result, observations: list[Observation]) -> None:
        """Create a result and its observations — now, or on the fast path at ``flush()``."""
        if not self.records:
            result.save(force_insert=True)
            for o in observations:
                o.result = result
            Observation.objects.bulk_create(observations)
            if any(o.pk is None for o in observations):  # a backend that does not return ids
                by_seq = dict(Observation.objects.filter(result=result).values_list("seq", "id"))
                for o in observations:
                    o.pk = by_seq[o.seq]
            return
        self._results.append((result, observations))

    def pending(self) -> bool:
        return bool(
            self._new_patients
            or self._changed_patients
            or self._new_encounters
            or self._changed_encounters
            or self._results
            or self._movements
        )

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
        """Write what the batch held back, in the order the foreign keys need (call before the
        batch's transaction commits, and before a query that must see the batch's rows)."""
        if self._new_patients:
            _insert(Patient, list(self._new_patients.values()))
            self._new_patients = {}
        if self._changed_patients:
            by_fields: dict[tuple[str, ...], list[Patient]] = {}
            for patient, wanted in self._changed_patients.values():
                by_fields.setdefault(tuple(sorted(wanted)), []).append(patient)
            for names, patients in by_fields.items():
                update_rows(Patient, patients, names)
            self._changed_patients = {}
        if self._new_encounters:
            _insert(Encounter, list(self._new_encounters.values()))
            self._new_encounters = {}
        if self._changed_encounters:
            update_rows(Encounter, list(self._changed_encounters.values()), ENCOUNTER_FIELDS)
            self._changed_encounters = {}
        if self._movements:
            EncounterMovement.objects.bulk_create(self._movements)
            self._movements = []
        if self._results:
            results = [r for r, _obs in self._results]
            _insert(Result, results)
            observations = []
            for result, obs in self._results:
                for o in obs:
                    o.result = result
                observations += obs
            self._results = []
            _insert(Observation, observations)


ENCOUNTER_FIELDS = tuple(f.name for f in Encounter._meta.concrete_fields if not f.primary_key)


def _insert(model: type[models.Model], rows: Sequence[models.Model]) -> None:
    """Insert ``rows`` (model instances without ids) with multi-row inserts (``insert_rows``) and
    set their ids, as ``bulk_create`` would (the ids of related rows written before are taken)."""
    if not rows:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    values = []
    for row in rows:
        # what bulk_create does: the ids of related rows written since they were assigned
        cast(Any, row)._prepare_related_fields_for_save(operation_name="bulk_create")
        values.append([getattr(row, f.attname) for f in fields])
    ids = insert_rows(model, [f.name for f in fields], values, returning=True)
    for row, pk in zip(rows, ids, strict=True):
        row.pk = pk
        row._state.adding = False
        row._state.db = connection.alias


def update_rows(model: type[models.Model], rows: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Write ``fields`` of each of ``rows`` with ONE prepared ``UPDATE … WHERE id = %s`` executed
    for every row (Django's ``bulk_update`` builds a CASE per field and row: several times the
    work)."""
    if not rows:
        return
    meta = model._meta
    qn = connection.ops.quote_name
    columns: list[models.Field[Any, Any]] = []
    for name in fields:
        column = meta.get_field(name)
        assert isinstance(column, models.Field)
        columns.append(column)
    pk = meta.pk
    assert pk is not None
    assignments = ", ".join(f"{qn(c.column or c.name)} = %s" for c in columns)
    # identifiers from the model's meta, quoted; every value is a parameter
    sql = f"UPDATE {qn(meta.db_table)} SET {assignments} WHERE {qn(pk.column or pk.name)} = %s"  # noqa: S608
    params = [
        [*(c.get_db_prep_save(getattr(row, c.attname), connection) for c in columns), row.pk] for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
