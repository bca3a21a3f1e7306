"""Messages for the HL7 receiving tests (built here; the third-party samples live in ../shared)."""

from __future__ import annotations


def message(
    control_id: str = "C1",
    *,
    kind: str = "ADT^A01",
    app: str = "HIS",
    facility: str = "H1",
    version: str = "2.5",
    charset: str = "",
    accept_ack: str = "",
    application_ack: str = "",
    patient: str = "P001^^^H1^MR",
    name: str = "ZHANG^SAN",
    end: str = "\r",
) -> str:
    msh = [
        "MSH",
        "^~\\&",
        app,
        facility,
        "MEDOA",
        "OA",
        "20261126120000",
        "",
        kind,
        control_id,
        "P",
        version,
        "",
        "",
        accept_ack,
        application_ack,
        "",
        charset,
    ]
    segments = [
        "|".join(msh).rstrip("|"),
        "EVN|A01|20261126120000",
        f"PID|1||{patient}||{name}||19800101|M",
        "PV1|1|I|W01^101^1^H1||||D001^LI^SI",
    ]
    return end.join(segments) + end


def segments_of(ack: bytes | str, charset: str = "utf-8") -> dict[str, list[str]]:
    """An ACK's segments by ID (the first of each), split into fields (index n = field n)."""
    text = ack.decode(charset) if isinstance(ack, bytes) else ack
    out: dict[str, list[str]] = {}
    for segment in text.split("\r"):
        if not segment:
            continue
        fields = segment.split("|")
        if fields[0] == "MSH":
            fields = ["MSH", "|", *fields[1:]]
        out.setdefault(fields[0], fields)
    return out
