"""What validation needs from the database (validation.References): which staff, departments and
attachments that a form's values name exist and may be used."""

from __future__ import annotations

from django.db.models import Q

from medoa.core.org.choices import ActiveStatus, StaffStatus
from medoa.core.org.models import Department, Staff

from .models import FormAttachment, FormRecord

MAX_REFERENCES = 1000


class DatabaseReferences:
    """``References`` for one person filling in a form (and, when editing, one record).

    * staff: active staff members (by id);
    * departments: active departments (by code);
    * attachments: tokens this person uploaded that are not bound to a record yet, and the
      attachments already bound to the record being edited (whoever uploaded them).
    """

    def __init__(self, *, staff: Staff | None, record: FormRecord | None = None) -> None:
        self.staff = staff
        self.record = record

    def existing_staff(self, ids: set[int]) -> set[int]:
        wanted = {i for i in ids if isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63}
        if not wanted:
            return set()
        return set(
            Staff.objects.filter(pk__in=list(wanted)[:MAX_REFERENCES], status=StaffStatus.ACTIVE).values_list(
                "pk", flat=True
            )
        )

    def existing_departments(self, codes: set[str]) -> set[str]:
        wanted = {c for c in codes if isinstance(c, str) and 0 < len(c) <= 32 and "\x00" not in c}
        if not wanted:
            return set()
        return set(
            Department.objects.filter(
                code__in=list(wanted)[:MAX_REFERENCES], status=ActiveStatus.ACTIVE
            ).values_list("code", flat=True)
        )

    def usable_attachments(self, ids: set[str]) -> set[str]:
        wanted = {i for i in ids if isinstance(i, str) and 0 < len(i) <= 64 and "\x00" not in i}
        if not wanted:
            return set()
        usable = Q(pk__in=[])
        if self.staff is not None:
            usable |= Q(record__isnull=True, uploaded_by=self.staff)
        if self.record is not None and self.record.pk is not None:
            usable |= Q(record=self.record)
        return set(
            FormAttachment.objects.filter(usable, pk__in=list(wanted)[:MAX_REFERENCES]).values_list(
                "pk", flat=True
            )
        )
