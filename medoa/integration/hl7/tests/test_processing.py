"""Processing stored HL7 messages: mapping to core/clinical, events, per-patient order, unmapped
codes and their reprocessing, cancels that arrive before what they cancel, the sample messages."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.db import transaction

from medoa.core.access.grants import sync_role_grants
from medoa.core.clinical.models import (
    CodeMapping,
    Encounter,
    EncounterMovement,
    Observation,
    Patient,
    Result,
    UnmappedCode,
)
from medoa.core.clinical.services import code_mapping_save
from medoa.core.events.models import Event
from medoa.core.org.choices import DepartmentKind
from medoa.core.org.tests.factories import staff_with_roles
from medoa.integration.hl7.models import Message, MessageStatus
from medoa.integration.hl7.processing import (
    ProcessorThread,
    announce,
    process_until_idle,
    requeue_unmapped,
    unmapped_sweep,
)
from medoa.integration.hl7.receive import receive

pytestmark = pytest.mark.django_db(transaction=False)

FAC = "DEMO_HOSPITAL"


def er7(*segments: str) -> str:
    return "\r".join(segments)


def msh(trigger: str, control: str, mtype: str = "ADT") -> str:
    return f"MSH|^~\\&|HIS|{FAC}|MEDOA|MEDOA|20261126101500||{mtype}^{trigger}|{control}|P|2.5"


def pv1(
    *,
    ward: str = "W5",
    room: str = "501",
    bed: str = "12",
    visit: str = "V001",
    doctor: str = "",
    prior: str = "",
    service: str = "CARD",
) -> str:
    fields = [""] * 20
    fields[0] = "PV1"
    fields[1] = "1"
    fields[2] = "I"
    fields[3] = f"{ward}^{room}^{bed}" if ward else ""
    fields[6] = prior
    fields[7] = f"{doctor}^Li^Si" if doctor else ""
    fields[10] = service
    fields[19] = visit
    return "|".join(fields)


def adt(
    trigger: str,
    control: str,
    *,
    mrn: str = "MRN001",
    ward: str = "W5",
    bed: str = "12",
    visit: str = "V001",
    doctor: str = "",
    prior: str = "",
) -> str:
    return er7(
        msh(trigger, control),
        f"EVN|{trigger}|20261126101400",
        f"PID|1||{mrn}^^^HIS^MR||张^三||19800101|M",
        pv1(ward=ward, bed=bed, visit=visit, doctor=doctor, prior=prior),
    )


def store(text: str, *, patient_id: str = "MRN001", control: str = "") -> Message:
    msh_fields = text.split("\r", 1)[0].split("|") + [""] * 12
    mtype, _, trigger = msh_fields[8].partition("^")
    return Message.objects.create(
        transport="mllp",
        sending_application=msh_fields[2],
        sending_facility=msh_fields[3],
        control_id=control or msh_fields[9],
        message_type=mtype,
        trigger_event=trigger.split("^")[0],
        patient_id=patient_id,
        raw=text,
    )


@pytest.fixture
def wards(department_factory):
    card = department_factory(code="CARD", kind=DepartmentKind.DEPARTMENT)
    w5 = department_factory(code="W5", kind=DepartmentKind.WARD, parent=card)
    w6 = department_factory(code="W6", kind=DepartmentKind.WARD, parent=card)
    return card, w5, w6


def test_a01_admits_and_publishes_admitted(wards, staff_factory):
    doctor = staff_factory(employee_no="D100")
    msg = store(adt("A01", "c1", doctor="D100"))

    assert process_until_idle() == 1

    msg.refresh_from_db()
    assert msg.status == MessageStatus.PROCESSED
    assert msg.status_reason == ""
    assert msg.processed_at is not None
    enc = Encounter.objects.get()
    assert (enc.status, enc.ward_code, enc.room_code, enc.bed_code, enc.department_code) == (
        "admitted",
        "W5",
        "501",
        "12",
        "CARD",
    )
    assert enc.attending_doctor == doctor.user.username
    patient = Patient.objects.get()
    assert (patient.identifier, patient.authority, patient.name, patient.initials) == (
        "MRN001",
        "HIS",
        "张^三",
        "张*",
    )
    event = Event.objects.get(pk=msg.events[0])
    assert event.type == "clinical.patient.admitted"
    assert event.payload["patient_id"] == "MRN001"
    assert event.payload["patient_initials"] == "张*"
    assert event.payload["ward"] == "W5"
    assert event.payload["bed"] == "12"
    assert event.payload["visit_number"] == "V001"
    assert event.payload["attending_doctor"] == doctor.user.username
    assert event.payload["source"] == f"hl7:{msg.pk}"
    assert "三" not in str(event.payload)


def test_transfer_discharge_and_cancel_discharge(wards):
    store(adt("A01", "c1"))
    store(adt("A02", "c2", ward="W6", bed="3"))
    store(adt("A03", "c3", ward="W6", bed="3"))
    store(adt("A13", "c4", ward="W6", bed="3"))

    assert process_until_idle() == 4

    assert list(Message.objects.order_by("id").values_list("status", flat=True)) == ["processed"] * 4
    types = list(Event.objects.order_by("id").values_list("type", flat=True))
    assert types == [
        "clinical.patient.admitted",
        "clinical.patient.transferred",
        "clinical.patient.discharged",
        "clinical.patient.discharge_cancelled",
    ]
    transfer = Event.objects.get(type="clinical.patient.transferred").payload
    assert (transfer["prior_ward"], transfer["prior_bed"], transfer["ward"], transfer["bed"]) == (
        "W5",
        "12",
        "W6",
        "3",
    )
    enc = Encounter.objects.get()
    assert enc.status == "admitted" and enc.discharged_at is None
    assert list(EncounterMovement.objects.values_list("kind", flat=True)) == [
        "admitted",
        "transferred",
        "discharged",
        "discharge_cancelled",
    ]


def test_cancel_before_admission_waits_then_applies(wards):
    cancel = store(adt("A11", "c9"))
    process_until_idle()
    cancel.refresh_from_db()
    assert cancel.status == MessageStatus.ERROR
    assert cancel.status_reason.startswith("pending:")
    assert not Event.objects.exists()

    admit = store(adt("A01", "c1"))
    process_until_idle()

    admit.refresh_from_db()
    cancel.refresh_from_db()
    assert (admit.status, cancel.status) == ("processed", "processed")
    assert Encounter.objects.get().status == "cancelled"
    assert list(Event.objects.order_by("id").values_list("type", flat=True)) == [
        "clinical.patient.admitted",
        "clinical.patient.admission_cancelled",
    ]
    assert Event.objects.get(type="clinical.patient.admission_cancelled").payload["bed"] == "12"


def test_unmapped_ward_waits_with_later_messages_then_mapping_reprocesses(wards, user_factory):
    first = store(adt("A01", "c1", ward="HIS-W9"))
    later = store(adt("A03", "c2", ward="HIS-W9"))
    other = store(adt("A01", "c3", mrn="MRN002", visit="V2"), patient_id="MRN002")

    process_until_idle()

    first.refresh_from_db()
    later.refresh_from_db()
    other.refresh_from_db()
    assert first.status == MessageStatus.UNMAPPED
    assert first.status_reason.split("\n")[0] == f"unmapped:ward:{FAC}:HIS-W9"
    assert later.status == MessageStatus.UNMAPPED
    assert later.status_reason.startswith(f"waits:#{first.pk}")
    assert other.status == MessageStatus.PROCESSED
    row = UnmappedCode.objects.get()
    assert (row.kind, row.facility, row.code) == ("ward", FAC, "HIS-W9")

    CodeMapping.objects.create(kind="ward", facility="*", external_code="HIS-W9", internal_code="W6")
    assert unmapped_sweep() == 2
    process_until_idle()

    first.refresh_from_db()
    later.refresh_from_db()
    assert (first.status, later.status) == ("processed", "processed")
    enc = Encounter.objects.get(visit_number="V001")
    assert (enc.status, enc.ward_code) == ("discharged", "W6")


def test_code_mapping_service_and_requeue(wards):
    sync_role_grants()
    card = wards[0]
    msg = store(adt("A01", "c1", ward="X1"))
    process_until_idle()
    it = staff_with_roles("it", department=card, root=card)
    code_mapping_save(actor=it.user, kind="ward", facility=FAC, external_code="X1", internal_code="W5")
    assert not UnmappedCode.objects.exists()
    assert requeue_unmapped([("ward", FAC, "X1")]) == 1
    process_until_idle()
    msg.refresh_from_db()
    assert msg.status == "processed"


def oru(control: str, flag: str, *, mrn: str = "MRN001", visit: str = "V001") -> str:
    return er7(
        msh("R01", control, "ORU"),
        f"PID|1||{mrn}^^^HIS^MR||张^三",
        pv1(visit=visit, service=""),
        "OBR|1|P1|F1|K^血钾^L|||20261126100000|||||||||D200^Wang||||||20261126101000|||F",
        f"OBX|1|NM|K^血钾^L||6.9|mmol/L|3.5-5.5|{flag}|||F|||20261126100500",
        "OBX|2|NM|NA^血钠^L||140|mmol/L|135-145|N|||F",
    )


@pytest.mark.parametrize(
    "flag,critical", [("HH", True), ("LL", True), ("AA", True), ("PH", True), ("H", False)]
)
def test_oru_critical_flags(wards, flag, critical):
    store(adt("A01", "c1", doctor=""))
    msg = store(oru("r1", flag))
    process_until_idle()
    msg.refresh_from_db()
    assert msg.status == "processed"
    result_event = Event.objects.get(type="clinical.result.received")
    assert result_event.payload["critical_count"] == int(critical)
    assert [o["code"] for o in result_event.payload["observations"]] == ["K", "NA"]
    criticals = list(Event.objects.filter(type="clinical.critical_value.received"))
    assert len(criticals) == int(critical)
    if critical:
        p = criticals[0].payload
        assert (p["test_code"], p["test_name"], p["value"], p["unit"], p["flag"], p["reference_range"]) == (
            "K",
            "血钾",
            "6.9",
            "mmol/L",
            flag,
            "3.5-5.5",
        )
        assert (p["ward"], p["bed"], p["visit_number"]) == ("W5", "12", "V001")
        assert p["observation_id"] == Observation.objects.get(code="K").pk
        assert p["encounter_id"] == Encounter.objects.get().pk


def test_local_critical_flags_setting(wards, settings):
    settings.MEDOA_HL7_CRITICAL_FLAGS = "XH"
    store(oru("r1", "XH"))
    store(oru("r2", "PH"))
    process_until_idle()
    assert Event.objects.filter(type="clinical.critical_value.received").count() == 1


def test_other_types_are_ignored_and_garbage_is_an_error(db):
    ack = store(er7("MSH|^~\\&|LIS|X|MEDOA|M|20261126||ACK^A01|a1|P|2.5", "MSA|AA|c1"), patient_id="")
    bad = store("this is not hl7", patient_id="", control="zz")
    process_until_idle()
    ack.refresh_from_db()
    bad.refresh_from_db()
    assert (ack.status, ack.status_reason) == ("processed", "ignored: ACK^A01 is not mapped")
    assert bad.status == "error" and bad.status_reason.startswith("not parseable as HL7 v2")
    assert not Event.objects.exists()


def _normalise(raw: bytes) -> list[str]:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    segs = [s for s in text.split("\r") if s.strip()]
    messages: list[list[str]] = []
    for s in segs:
        if s.startswith("MSH") or not messages:
            messages.append([])
        messages[-1].append(s)
    return ["\r".join(m) for m in messages]


def test_every_sample_message_lands_in_a_clear_state(shared_data, wards):
    folder = shared_data / "hl7"
    if not folder.is_dir():
        pytest.skip("no ../shared/data/hl7")
    n = 0
    for path in sorted(Path(folder).glob("*.hl7")):
        for i, text in enumerate(_normalise(path.read_bytes())):
            if "\x00" in text:
                continue  # refused on receipt (MLLP): never stored as received
            store(text, patient_id="", control=f"{path.name}:{i}")
            n += 1
    assert process_until_idle() == n
    states = dict(Message.objects.values_list("control_id", "status"))
    assert set(states.values()) <= {"processed", "unmapped", "error"}
    for m in Message.objects.exclude(status="processed"):
        assert m.status_reason, m.control_id
    assert states["oru_r01__fhirconverter__lri_cbc_hh.hl7:0"] == "processed"
    assert Event.objects.filter(type="clinical.critical_value.received").exists()


@pytest.mark.django_db(transaction=True)
def test_the_processor_thread_wakes_on_a_stored_message(department_factory):
    card = department_factory(code="CARD", kind=DepartmentKind.DEPARTMENT)
    department_factory(code="W5", kind=DepartmentKind.WARD, parent=card)
    thread = ProcessorThread(worker_id="test")
    thread.start()
    try:
        time.sleep(0.3)  # the thread waits for work
        with transaction.atomic():
            msg = store(adt("A01", "t1"))
            announce()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            msg.refresh_from_db()
            if msg.status != MessageStatus.RECEIVED:
                break
            time.sleep(0.05)
        assert msg.status == MessageStatus.PROCESSED
        assert Event.objects.filter(type="clinical.patient.admitted").count() == 1
    finally:
        thread.stop()


def test_received_through_the_pipeline_then_processed(wards):
    # the same bytes a sender puts in an MLLP frame: LF line ends, a GB18030 name, an ORU with LL
    text = "\n".join(
        [
            "MSH|^~\\&|LIS|DEMO_HOSPITAL|MEDOA|MEDOA|20261126101500||ORU^R01|r77|P|2.5||||||GB 18030-2000",
            "PID|1||MRN77^^^HIS^MR||王^小明",
            pv1(visit="V77", service=""),
            "OBR|1|P1|F1|GLU^血糖^L|||20261126100000",
            "OBX|1|NM|GLU^血糖^L||1.8|mmol/L|3.9-6.1|LL|||F",
        ]
    )
    ack = receive(text.encode("gb18030"), transport="mllp", peer="127.0.0.1", sender_check=False)
    assert b"MSA|AA|r77" in ack
    msg = Message.objects.get(control_id="r77")
    assert msg.patient_id == "MRN77"
    process_until_idle()
    msg.refresh_from_db()
    assert msg.status == "processed"
    critical = Event.objects.get(type="clinical.critical_value.received").payload
    assert (critical["test_name"], critical["flag"], critical["patient_initials"], critical["ward"]) == (
        "血糖",
        "LL",
        "王*",
        "W5",
    )


def test_a_pathological_message_is_refused_without_parsing(wards, settings):
    settings.MEDOA_HL7_PROCESS_MAX_DELIMITERS = 10_000
    bomb = store(adt("A01", "b1") + "\rZZZ|" + "^" * 50_000)
    fine = store(adt("A01", "b2", mrn="MRN2", visit="V2"), patient_id="MRN2")
    started = time.monotonic()
    process_until_idle()
    assert time.monotonic() - started < 10
    bomb.refresh_from_db()
    fine.refresh_from_db()
    assert (bomb.status, bomb.status_reason) == (
        "error",
        "too many fields and components to process (limit 10000)",
    )
    assert fine.status == "processed"


# --- the batch path: bulk writes, and message by message when a batch fails -------------------------


def oru_order(control: str, order: str, *, mrn: str, visit: str) -> str:
    return er7(
        msh("R01", control, "ORU"),
        f"PID|1||{mrn}^^^HIS^MR||张^三",
        pv1(visit=visit, service=""),
        f"OBR|1|P{control}|F{control}|{order}^{order}^L|||20261126100000",
        "OBX|1|NM|K^血钾^L||4.1|mmol/L|3.5-5.5|N|||F",
    )


@pytest.fixture
def refuse_order_boom():
    """The database refuses a result whose test code is BOOM (a trigger: a real failure of one
    row's insert, as a constraint or a full disk would make one)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION test_refuse_boom() RETURNS trigger AS $$ BEGIN "
                "IF NEW.order_code = 'BOOM' THEN RAISE EXCEPTION 'boom refused'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER test_refuse_boom BEFORE INSERT ON clinical_result "
                "FOR EACH ROW EXECUTE FUNCTION test_refuse_boom()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER test_refuse_boom BEFORE INSERT ON clinical_result "
                "WHEN NEW.order_code = 'BOOM' BEGIN SELECT RAISE(ABORT, 'boom refused'); END"
            )


def test_a_batch_with_one_failing_message_processes_the_others_in_patient_order(wards, refuse_order_boom):
    admit = store(adt("A01", "m1"))
    result = store(oru_order("m2", "CBC", mrn="MRN001", visit="V001"))
    bad = store(oru_order("m3", "BOOM", mrn="MRN002", visit="V002"), patient_id="MRN002")
    other = store(adt("A01", "m4", mrn="MRN003", visit="V003"), patient_id="MRN003")
    discharge = store(adt("A03", "m5"))

    assert process_until_idle() == 5

    rows = {m.pk: m for m in Message.objects.all()}
    assert [rows[m.pk].status for m in (admit, result, bad, other, discharge)] == [
        "processed",
        "processed",
        "error",
        "processed",
        "processed",
    ]
    reason = rows[bad.pk].status_reason
    assert reason.startswith("database error while applying:") and "boom refused" in reason
    assert rows[bad.pk].events == []
    # the failing message left nothing behind; the others wrote theirs
    assert not Patient.objects.filter(identifier="MRN002").exists()
    assert list(Result.objects.values_list("order_code", flat=True)) == ["CBC"]
    # MRN001's events in its messages' order, each message naming its own events
    mine = Event.objects.filter(payload__patient_id="MRN001").order_by("id")
    assert [(e.type, e.payload["source"]) for e in mine] == [
        ("clinical.patient.admitted", f"hl7:{admit.pk}"),
        ("clinical.result.received", f"hl7:{result.pk}"),
        ("clinical.patient.discharged", f"hl7:{discharge.pk}"),
    ]
    for msg in (admit, result, other, discharge):
        assert [Event.objects.get(pk=pk).payload["source"] for pk in rows[msg.pk].events] == [f"hl7:{msg.pk}"]
    enc = Encounter.objects.get(visit_number="V001")
    assert enc.status == "discharged"
    assert Event.objects.get(type="clinical.result.received").payload["encounter_id"] == enc.pk


def test_the_batch_writes_in_bulk_rows_and_payloads_as_one_by_one(wards, django_assert_max_num_queries):
    # two patients, five messages in one batch: admitted, a result, a transfer, a second patient
    store(adt("A01", "b1"))
    store(oru("b2", "HH"))
    store(adt("A02", "b3", ward="W6", bed="3", prior="W5^501^12"))
    store(adt("A04", "b4", mrn="MRN009", visit="V9"), patient_id="MRN009")
    store(oru("b5", "N", mrn="MRN009", visit="V9"), patient_id="MRN009")

    with django_assert_max_num_queries(30):
        assert process_until_idle() == 5

    assert set(Message.objects.values_list("status", flat=True)) == {"processed"}
    enc = Encounter.objects.get(visit_number="V001")
    assert (enc.status, enc.ward_code, enc.bed_code) == ("admitted", "W6", "3")
    results = {r.patient.identifier: r for r in Result.objects.select_related("patient", "encounter")}
    assert results["MRN001"].encounter == enc
    assert results["MRN009"].encounter == Encounter.objects.get(visit_number="V9")
    events = list(Event.objects.order_by("id"))
    assert [e.type for e in events] == [
        "clinical.patient.admitted",
        "clinical.result.received",
        "clinical.critical_value.received",
        "clinical.patient.transferred",
        "clinical.patient.registered",
        "clinical.result.received",
    ]
    admitted, received, critical, transferred, registered, other = (e.payload for e in events)
    assert admitted["encounter_id"] == transferred["encounter_id"] == received["encounter_id"] == enc.pk
    assert (admitted["ward"], admitted["bed"], transferred["prior_ward"], transferred["ward"]) == (
        "W5",
        "12",
        "W5",
        "W6",
    )
    # the result came before the transfer: it names the bed the patient was in then
    assert (received["ward"], received["bed"]) == ("W5", "12")
    observations = dict(Observation.objects.filter(result=results["MRN001"]).values_list("code", "id"))
    assert [o["observation_id"] for o in received["observations"]] == [observations["K"], observations["NA"]]
    assert (critical["observation_id"], critical["result_id"]) == (observations["K"], results["MRN001"].pk)
    assert registered["encounter_id"] == other["encounter_id"] == results["MRN009"].encounter_id
    assert other["result_id"] == results["MRN009"].pk
    assert list(EncounterMovement.objects.filter(encounter=enc).values_list("kind", flat=True)) == [
        "admitted",
        "transferred",
    ]


def test_the_query_count_of_a_batch_does_not_grow_with_its_messages(wards):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def batch_of(patients: int, start: int) -> list[str]:
        for n in range(start, start + patients):
            mrn, visit = f"MRN{n:03d}", f"V{n:03d}"
            store(adt("A01", f"q{n}a", mrn=mrn, visit=visit), patient_id=mrn)
            store(oru(f"q{n}b", "N", mrn=mrn, visit=visit), patient_id=mrn)
            store(adt("A08", f"q{n}c", mrn=mrn, visit=visit), patient_id=mrn)
        with CaptureQueriesContext(connection) as captured:
            assert process_until_idle() == 3 * patients
        return [q["sql"][:60] for q in captured.captured_queries]

    few, many = batch_of(2, 100), batch_of(15, 200)
    # the same statements, give or take two: SQLite's limit on parameters may split a large insert,
    # and PostgreSQL's NOTIFY goes once per transaction (the test's, here)
    assert abs(len(many) - len(few)) <= 2
    assert sum(q.startswith("INSERT") for q in few) == 7  # one per table, events and deliveries


def test_messages_without_a_visit_number_see_the_batch_s_earlier_rows(wards):
    store(adt("A01", "n1", visit=""))
    store(adt("A03", "n2", visit=""))
    store(adt("A13", "n3", visit=""))

    assert process_until_idle() == 3

    assert list(Message.objects.order_by("id").values_list("status", flat=True)) == ["processed"] * 3
    enc = Encounter.objects.get()
    assert (enc.visit_number, enc.status) == ("", "admitted")
    assert list(EncounterMovement.objects.values_list("kind", flat=True)) == [
        "admitted",
        "discharged",
        "discharge_cancelled",
    ]


def test_a_visit_number_of_another_new_patient_in_the_batch_is_refused(wards):
    first = store(adt("A01", "v1", mrn="MRN001", visit="SHARED"))
    second = store(adt("A01", "v2", mrn="MRN002", visit="SHARED"), patient_id="MRN002")

    process_until_idle()

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == "processed"
    assert second.status == "error"
    assert second.status_reason.endswith(")") and "(visit_number: " in second.status_reason
    assert Encounter.objects.get().patient.identifier == "MRN001"
