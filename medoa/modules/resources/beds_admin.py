"""Setting up a ward's beds: add rooms and beds (a range at a time), remove a bed that was never
used, and the ward's cleaning settings — by the head nurse of the ward, 护理部 or 后勤
(permission ``resources.beds.settings``). Every change is audited; a refused one writes nothing.

Bed and room codes are the HIS's (PV1-3.2/3.3 as sent), so an admission finds its bed without a
mapping: letters, digits, ``-``, ``_`` and ``+`` (加床), at most 32 characters.
"""

from __future__ import annotations

import re
from typing import Any, Final

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm
from medoa.core.audit.services import audit_record
from medoa.core.org.choices import DepartmentKind
from medoa.core.org.models import Department

from .beds_choices import BedStatus, BedType
from .models import Bed, Room
from .services import PERM_SETTINGS, PERM_VIEW, BedConflict, BedError

CODE: Final = re.compile(r"^[0-9A-Za-z+_-]{1,32}$")
RANGE: Final = re.compile(r"^([0-9]{1,6})-([0-9]{1,6})$")
MAX_BEDS: Final = 200  # at a time


def parse_bed_codes(text: str) -> list[str]:
    """``"01-03, 05, 12+"`` → ``["01", "02", "03", "05", "12+"]``: items by comma (or 、 or space),
    a numeric range keeps the width of its first number (``01-12`` gives ``01`` … ``12``)."""
    items = [p for p in re.split(r"[,，、\s]+", (text or "").strip()) if p]
    if not items:
        raise BedError(_("Name the beds, e.g. 01-06 or 01, 02, 05."), field="codes")
    codes: list[str] = []
    for item in items:
        match = RANGE.match(item)
        if match:
            first, last = int(match.group(1)), int(match.group(2))
            if last < first:
                raise BedError(_("The range %(range)s runs backwards."), {"range": item}, field="codes")
            if last - first + 1 > MAX_BEDS:
                raise BedError(_("At most %(n)s beds at a time."), {"n": MAX_BEDS}, field="codes")
            width = len(match.group(1))
            codes.extend(str(n).zfill(width) for n in range(first, last + 1))
        elif CODE.match(item):
            codes.append(item)
        else:
            raise BedError(
                _("%(code)s is not a bed code: use letters, digits, -, _ or + (at most 32)."),
                {"code": item[:40]},
                field="codes",
            )
    if len(codes) > MAX_BEDS:
        raise BedError(_("At most %(n)s beds at a time."), {"n": MAX_BEDS}, field="codes")
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        raise BedError(_("Named twice: %(codes)s."), {"codes": ", ".join(repeated)}, field="codes")
    return codes


def _ward_for(actor: Any, ward: Department) -> Department:
    if not has_perm(actor, PERM_VIEW, department=ward) and not has_perm(
        actor, PERM_SETTINGS, department=ward
    ):
        raise BedError(_("There is no such ward."), status=404)
    if not has_perm(actor, PERM_SETTINGS, department=ward):
        raise PermissionDenied
    if ward.kind != DepartmentKind.WARD:
        raise BedError(_("Beds belong to a ward; %(name)s is not one."), {"name": ward.name_zh}, field="ward")
    return ward


@transaction.atomic
def beds_add(
    *, actor: Any, ward: Department, room: str, codes: str, bed_type: str = BedType.STANDARD
) -> list[Bed]:
    """Add the beds ``codes`` (see :func:`parse_bed_codes`) in room ``room`` of ``ward`` (the room
    is made when new), free, after the ward's other beds. All or nothing: a code the ward already
    has refuses the whole call (409, naming it)."""
    _ward_for(actor, ward)
    room_code = (room or "").strip()
    if not CODE.match(room_code):
        raise BedError(_("The room code is letters, digits, -, _ or + (at most 32), e.g. 301."), field="room")
    if bed_type not in BedType.values:
        raise BedError(
            _("Unknown bed type; use one of: %(choices)s."),
            {"choices": ", ".join(BedType.values)},
            field="bed_type",
        )
    wanted = parse_bed_codes(codes)
    # the ward's rows locked: two people adding the same codes at once cannot both succeed
    list(Department.objects.select_for_update().filter(pk=ward.pk).values_list("pk", flat=True))
    taken = sorted(Bed.objects.filter(ward=ward, code__in=wanted).values_list("code", flat=True))
    if taken:
        raise BedConflict(
            _("The ward already has these beds: %(codes)s."), {"codes": ", ".join(taken)}, field="codes"
        )
    room_row = Room.objects.filter(ward=ward, code=room_code).first()
    if room_row is None:
        last_room = Room.objects.filter(ward=ward).aggregate(m=Max("sort_order"))["m"] or 0
        room_row = Room.objects.create(ward=ward, code=room_code, sort_order=last_room + 1)
    last = Bed.objects.filter(ward=ward).aggregate(m=Max("sort_order"))["m"] or 0
    made = Bed.objects.bulk_create(
        [
            Bed(ward=ward, room=room_row, code=code, bed_type=bed_type, sort_order=last + i)
            for i, code in enumerate(wanted, start=1)
        ]
    )
    audit_record(
        actor=actor,
        action="resources.beds.added",
        target=ward,
        details={"ward": ward.code, "room": room_code, "beds": wanted, "bed_type": bed_type},
    )
    return made


@transaction.atomic
def bed_remove(*, actor: Any, bed: Bed | int) -> None:
    """Remove a bed set up by mistake: only a free bed that never had a cleaning (a bed in use
    keeps its record — take it out of service instead). Its room goes with its last bed."""
    pk = bed.pk if isinstance(bed, Bed) else int(bed)
    row = Bed.objects.select_for_update(of=("self",)).select_related("ward", "room").filter(pk=pk).first()
    if row is None or not (
        has_perm(actor, PERM_VIEW, department=row.ward) or has_perm(actor, PERM_SETTINGS, department=row.ward)
    ):
        raise BedError(_("There is no such bed."), status=404)
    if not has_perm(actor, PERM_SETTINGS, department=row.ward):
        raise PermissionDenied
    if row.status != BedStatus.AVAILABLE or row.encounter_id is not None:
        raise BedConflict(
            _("Only a free bed can be removed; this one is %(status)s."),
            {"status": BedStatus(row.status).label},
        )
    if row.cleanings.exists():
        raise BedConflict(_("This bed has cleaning records: take it out of service instead of removing it."))
    room, ward, code = row.room, row.ward, row.code
    row.delete()
    if not room.beds.exists():
        room.delete()
    audit_record(
        actor=actor,
        action="resources.bed.removed",
        target=ward,
        details={"ward": ward.code, "room": room.code, "bed": code},
    )
