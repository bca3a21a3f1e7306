"""Every FHIR sample from other projects (../shared/data/fhir) is accepted and mapped, or lands in
a clear state with a stored reason — no crash, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from medoa.core.clinical.models import CodeMapping
from medoa.core.clinical.models import UnmappedCode as UnmappedCodeRow
from medoa.core.events.models import Event
from medoa.integration.fhir import services
from medoa.integration.fhir.models import Submission
from medoa.integration.fhir.services import MAPPED_TYPES

pytestmark = pytest.mark.django_db

CLEAR = {"processed", "stored", "unmapped", "rejected"}


def _post_path(data: dict[str, Any]) -> str:
    rtype = data["resourceType"]
    return "/fhir/r4/" if rtype == "Bundle" else f"/fhir/r4/{rtype}"


def test_every_sample_lands_in_a_clear_state(fhir: Any, shared_data: Path, hospital: Any) -> None:
    folder = shared_data / "fhir"
    if not folder.is_dir():
        pytest.skip("../shared/data/fhir is not present")
    files = sorted(folder.glob("*.json"))
    assert files
    seen: dict[str, tuple[int, str]] = {}
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        status, body = fhir(_post_path(data), path.read_bytes())
        assert status in (200, 201, 202, 404, 422), (path.name, status, body)
        top = Submission.objects.filter(bundle__isnull=True).order_by("-id").first()
        assert top is not None and top.status in CLEAR, (path.name, top and top.status)
        if top.status in ("rejected", "unmapped"):
            assert top.reason, path.name
        for entry in top.entries.all():
            assert entry.status in CLEAR, (path.name, entry.entry_index, entry.status)
            if entry.status in ("rejected", "unmapped"):
                assert entry.reason, (path.name, entry.entry_index)
        seen[path.name] = (status, top.status)
    # No Submission is left half-way, nothing failed with an error.
    assert not Submission.objects.filter(status__in=("received", "error")).exists()
    # The standalone resources of the five types were all accepted (201/202).
    for name, (status, _state) in seen.items():
        rtype = json.loads((folder / name).read_text(encoding="utf-8"))["resourceType"]
        if rtype in MAPPED_TYPES:
            assert status in (201, 202), name
    # Mapping every code the samples used (the mapping page's suggestions) applies what waited.
    parked = Submission.objects.filter(status="unmapped").count()
    for code in UnmappedCodeRow.objects.all():
        CodeMapping.objects.get_or_create(
            kind=code.kind,
            facility=code.facility or "*",
            external_code=code.code,
            defaults={"internal_code": "W1"},
        )
    assert services.reprocess_due() == parked
    assert not Submission.objects.filter(status="unmapped").exists()
    # The CBC with HH values gives results and critical values.
    if any("lri_cbc_hh" in n for n in seen):
        assert Event.objects.filter(type="clinical.critical_value.received").exists()
    # Not a batch/transaction: a collection Bundle is refused with its reason.
    for name, (status, state) in seen.items():
        if name.startswith("bundle_collection"):
            assert (status, state) == (422, "rejected")
        if name.startswith("diagnosticreport"):
            assert (status, state) == (404, "rejected")
