"""receive(): decode, check, store durably, acknowledge — on the real database, no transport."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from medoa.integration.hl7.decoding import codec_for, decode
from medoa.integration.hl7.models import Message, MessageStatus, Sender
from medoa.integration.hl7.receive import forget_allow_list, receive

from .hl7_samples import message, segments_of

pytestmark = pytest.mark.django_db(transaction=True)

LOOPBACK = "127.0.0.1:40000"


@pytest.fixture(autouse=True)
def loopback_sender(db: object) -> Iterator[Sender]:
    forget_allow_list()
    sender = Sender.objects.create(name="loopback", address="127.0.0.1/32", facility="*", scopes=["hl7:*"])
    yield sender
    forget_allow_list()


def send(text: str | bytes, peer: str = LOOPBACK) -> bytes:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return receive(data, transport="mllp", peer=peer)


def test_accepted_message_is_stored_before_the_aa_and_the_ack_mirrors_the_header() -> None:
    ack = segments_of(send(message("C100")))

    row = Message.objects.get()
    assert row.status == MessageStatus.RECEIVED
    assert (row.sending_application, row.sending_facility, row.control_id) == ("HIS", "H1", "C100")
    assert (row.message_type, row.trigger_event, row.version, row.charset) == ("ADT", "A01", "2.5", "utf-8")
    assert row.patient_id == "P001"
    assert row.raw.startswith("MSH|^~\\&|HIS|H1|") and "\n" not in row.raw
    assert row.ack_code == "AA"
    msh, msa = ack["MSH"], ack["MSA"]
    assert msh[2] == "^~\\&"
    assert (msh[3], msh[4], msh[5], msh[6]) == ("MEDOA", "OA", "HIS", "H1")
    assert msh[9] == "ACK^A01^ACK"
    assert msh[10] and msh[10] != "C100"
    assert (msh[11], msh[12]) == ("P", "2.5")
    assert msa[1:3] == ["AA", "C100"]
    assert "ERR" not in ack
    assert row.ack.split("\r")[1] == "MSA|AA|C100"


def test_line_ends_and_bom_are_normalised() -> None:
    data = b"\xef\xbb\xbf" + message("C101", end="\r\n").encode() + b"\n\n"
    segments_of(send(data))
    row = Message.objects.get()
    assert row.raw.split("\r")[0].startswith("MSH|")
    assert len(row.raw.split("\r")) == 4
    assert "\n" not in row.raw


def test_gb18030_message_is_decoded_by_msh18_and_answered_in_it() -> None:
    text = message("C102", charset="GB 18030-2000", name="张^三")
    answer = send(text.encode("gb18030"))

    row = Message.objects.get()
    assert row.charset == "gb18030"
    assert "张^三" in row.raw
    ack = segments_of(answer, "gb18030")
    assert ack["MSA"][1:3] == ["AA", "C102"]
    assert ack["MSH"][18] == "GB 18030-2000"


@pytest.mark.parametrize(
    ("declared", "codec"),
    [
        ("UNICODE UTF-8", "utf-8"),
        ("GB18030", "gb18030"),
        ("GB 18030-2000", "gb18030"),
        ("8859/1", "iso8859-1"),
        ("ASCII", "ascii"),
        ("", None),
        ("KLINGON", None),
    ],
)
def test_charset_names(declared: str, codec: str | None) -> None:
    assert codec_for(declared) == codec


def test_undecodable_bytes_are_rejected_with_the_offset() -> None:
    data = message("C103", charset="UNICODE UTF-8", name="Z\xff").encode("latin-1")
    ack = segments_of(send(data), "latin-1")

    row = Message.objects.get()
    assert row.status == MessageStatus.REJECTED
    assert row.status_reason.startswith("the message is not valid UNICODE UTF-8 text (byte ")
    assert bytes(row.raw_bytes or b"") == data
    assert ack["MSA"][1:3] == ["AR", "C103"]
    assert ack["ERR"][3] == "102^Data type error^HL70357"


def test_unknown_charset_is_rejected() -> None:
    ack = segments_of(send(message("C104", charset="KLINGON")))
    row = Message.objects.get()
    assert row.status == MessageStatus.REJECTED
    assert row.status_reason == "character set 'KLINGON' (MSH-18) is not supported"
    assert ack["MSA"][1] == "AR"


def test_no_msh_is_rejected_and_stored() -> None:
    ack = segments_of(send("PID|1||X\rPV1|1\r"))
    row = Message.objects.get()
    assert row.status == MessageStatus.REJECTED
    assert row.status_reason.startswith("the message does not start with MSH")
    assert ack["MSA"][1:3] == ["AR", ""]
    assert ack["ERR"][3].startswith("100^")


def test_bad_encoding_characters_are_rejected() -> None:
    ack = segments_of(send(message("C105").replace("^~\\&", "^~\\\\&", 1)))
    row = Message.objects.get()
    assert row.status == MessageStatus.REJECTED
    assert "MSH-2" in row.status_reason
    assert ack["MSA"][1] == "AR"


def test_segment_without_id_is_an_application_error_ae() -> None:
    ack = segments_of(send(message("C106") + "this is not a segment\r"))
    row = Message.objects.get()
    assert row.status == MessageStatus.REJECTED
    assert ack["MSA"][1:3] == ["AE", "C106"]
    assert ack["ERR"][3] == "100^Segment sequence error^HL70357"
    assert ack["ERR"][4] == "E"
    assert ack["ERR"][8].startswith("segment 5 does not start with a segment ID")


def test_unsupported_type_and_version_are_rejected_ar() -> None:
    orm = segments_of(send(message("C107", kind="ORM^O01")))
    version = segments_of(send(message("C108", version="3.0")))
    assert orm["MSA"][1:3] == ["AR", "C107"]
    assert orm["ERR"][3].startswith("200^Unsupported message type")
    assert version["ERR"][3].startswith("203^Unsupported version id")
    assert list(Message.objects.values_list("status", flat=True)) == ["rejected", "rejected"]


def test_old_versions_get_err1_and_msa3() -> None:
    ack = segments_of(send(message("C109", kind="ORM^O01", version="2.3")))
    assert ack["MSH"][9] == "ACK^O01"
    assert ack["MSA"][1] == "AR" and ack["MSA"][3].startswith("message type ORM is not accepted")
    assert ack["ERR"][1] == "MSH^1^9^200&Unsupported message type&HL70357"


def test_enhanced_mode_answers_commit_acks() -> None:
    ok = segments_of(send(message("C110", accept_ack="AL", application_ack="NE")))
    error = segments_of(send(message("C111", kind="ORM^O01", accept_ack="AL", application_ack="AL")))
    reject = segments_of(send(message("C112", charset="KLINGON", accept_ack="AL")))
    assert ok["MSA"][1:3] == ["CA", "C110"]
    assert error["MSA"][1] == "CR"
    assert reject["MSA"][1] == "CR"
    assert Message.objects.get(control_id="C110").ack_code == "CA"


def test_enhanced_mode_content_error_is_ce() -> None:
    ack = segments_of(send(message("C113", accept_ack="AL") + "bad segment\r"))
    assert ack["MSA"][1] == "CE"


def test_enhanced_mode_ne_and_er_send_nothing_on_success() -> None:
    assert send(message("C114", accept_ack="NE", application_ack="AL")) == b""
    assert send(message("C115", accept_ack="ER", application_ack="AL")) == b""
    assert segments_of(send(message("C116", kind="ORM^O01", accept_ack="ER")))["MSA"][1] == "CR"
    assert segments_of(send(message("C117", accept_ack="SU")))["MSA"][1] == "CA"
    assert Message.objects.filter(status="received").count() == 3


def test_duplicate_gets_the_stored_ack_and_is_not_received_twice() -> None:
    first = send(message("C200"))
    second = send(message("C200"))
    third = send(message("C200"))

    assert first == second == third
    original = Message.objects.get(status=MessageStatus.RECEIVED)
    repeats = list(Message.objects.filter(status=MessageStatus.DUPLICATE))
    assert len(repeats) == 2
    assert {r.duplicate_of_id for r in repeats} == {original.pk}
    assert all(r.ack == original.ack for r in repeats)


def test_same_control_id_from_another_facility_is_not_a_duplicate() -> None:
    send(message("C201", facility="H1"))
    send(message("C201", facility="H2"))
    assert Message.objects.filter(status=MessageStatus.RECEIVED).count() == 2


def test_resend_of_a_rejected_message_is_evaluated_again() -> None:
    rejected = segments_of(send(message("C202", charset="KLINGON")))
    accepted = segments_of(send(message("C202")))
    assert rejected["MSA"][1] == "AR"
    assert accepted["MSA"][1] == "AA"
    assert sorted(Message.objects.values_list("status", flat=True)) == ["received", "rejected"]


def test_batch_is_answered_by_a_batch_of_acks() -> None:
    batch = "\r".join(
        [
            "BHS|^~\\&|HIS|H1|MEDOA|OA|20261126||||B77",
            message("C300").rstrip("\r"),
            message("C301", kind="ORM^O01").rstrip("\r"),
            message("C302").rstrip("\r"),
            "BTS|3",
        ]
    )
    answer = send(batch).decode()

    rows = list(Message.objects.order_by("pk"))
    assert [(r.control_id, r.status) for r in rows] == [
        ("C300", "received"),
        ("C301", "rejected"),
        ("C302", "received"),
    ]
    assert {r.batch_id for r in rows} == {rows[0].pk}
    segments = answer.split("\r")
    assert segments[0].startswith("BHS|^~\\&|MEDOA|OA|HIS|H1|")
    assert segments[0].split("|")[11] == "B77"  # BHS-12: the batch it answers
    assert [s for s in segments if s.startswith("MSA")] == ["MSA|AA|C300", "MSA|AR|C301", "MSA|AA|C302"]
    assert segments[-1] == "BTS|3"


def test_file_envelope_and_duplicate_inside_a_batch() -> None:
    text = "\r".join(
        [
            "FHS|^~\\&|HIS|H1|MEDOA|OA|20261126||||F1",
            "BHS|^~\\&|HIS|H1|MEDOA|OA|20261126||||B1",
            message("C310").rstrip("\r"),
            message("C310").rstrip("\r"),
            "BTS|2",
            "FTS|1",
        ]
    )
    answer = send(text).decode().split("\r")
    assert answer[0].startswith("FHS|") and answer[1].startswith("BHS|")
    assert answer[-2:] == ["BTS|2", "FTS|1"]
    rows = list(Message.objects.order_by("pk"))
    assert [r.status for r in rows] == ["received", "duplicate"]
    assert rows[1].duplicate_of_id == rows[0].pk


def test_batch_without_a_message_is_rejected() -> None:
    ack = segments_of(send("BHS|^~\\&|HIS|H1\rBTS|0\r"))
    row = Message.objects.get()
    assert row.status == MessageStatus.REJECTED
    assert row.status_reason == "the batch holds no message (no MSH segment)"
    assert ack["MSA"][1] == "AR"


def test_allow_list_refuses_unknown_address_and_facility(loopback_sender: Sender) -> None:
    loopback_sender.facility = "H1"
    loopback_sender.save()
    forget_allow_list()

    other_address = segments_of(send(message("C400"), peer="10.1.2.3:5000"))
    other_facility = segments_of(send(message("C401", facility="H9")))
    allowed = segments_of(send(message("C402", facility="H1"), peer="[::ffff:127.0.0.1]:5000"))

    assert other_address["MSA"][1:3] == ["AR", "C400"]
    assert "10.1.2.3" in other_address["ERR"][8] and "allow-list" in other_address["ERR"][8]
    assert other_facility["MSA"][1] == "AR"
    assert allowed["MSA"][1] == "AA"
    assert list(Message.objects.order_by("pk").values_list("status", flat=True)) == [
        "rejected",
        "rejected",
        "received",
    ]


def test_allow_list_scopes(loopback_sender: Sender) -> None:
    loopback_sender.scopes = ["hl7:adt"]
    loopback_sender.save()
    forget_allow_list()
    assert segments_of(send(message("C410")))["MSA"][1] == "AA"
    refused = segments_of(send(message("C411", kind="ORU^R01")))
    assert refused["MSA"][1] == "AR"
    assert refused["ERR"][8] == "this sender may not send hl7:oru"


def test_disabled_sender_admits_nothing(loopback_sender: Sender) -> None:
    loopback_sender.enabled = False
    loopback_sender.save()
    forget_allow_list()
    assert segments_of(send(message("C420")))["MSA"][1] == "AR"


def test_every_shared_sample_gets_an_ack_and_a_stored_state(shared_data: Path) -> None:
    folder = shared_data / "hl7"
    if not folder.is_dir():
        pytest.skip("../shared/data/hl7 is absent")
    files = sorted(folder.glob("*.hl7"))
    assert files
    for path in files:
        Message.objects.all().delete()  # several samples share a sender and control ID
        answer = send(path.read_bytes())
        text = answer.decode("latin-1")
        rows = list(Message.objects.order_by("pk"))
        assert rows, path.name
        if not answer:  # enhanced mode, MSH-15 NE: the sender asked for no acknowledgement
            assert all(r.ack_code == "CA" and "|NE|" in r.raw.split("\r")[0] for r in rows), path.name
        else:
            assert "\rMSA" in text, path.name  # (the separator is the sender's)
        for row in rows:
            assert row.status in {"received", "rejected"}, path.name
            if row.status == "rejected":
                assert row.status_reason, path.name
        if path.name.startswith("malformed__") and "caret_field_sep" not in path.name:
            assert all(r.status == "rejected" for r in rows), path.name
            assert re.search(r"\rMSA.(AR|AE|CR|CE)", text), path.name


def test_decode_reports_utf16() -> None:
    assert decode(b"\xff\xfeM\x00S\x00H\x00").problem is not None
