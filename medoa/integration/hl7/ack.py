"""Acknowledgements (HL7 v2.5 chapter 2, §2.9 and §2.10.3).

- **Original mode** (MSH-15 and MSH-16 empty): MSA-1 ``AA`` accepted, ``AE`` error in the content,
  ``AR`` rejected (header, character set, sender, size, or the system could not store it).
- **Enhanced mode** (MSH-15 or MSH-16 valued): the commit acknowledgement ``CA`` / ``CE`` / ``CR``,
  sent as MSH-15 asks: ``AL`` (or empty) always, ``SU`` on success, ``NE`` and ``ER`` not on
  success. A refusal (CE/CR) is always sent, even under ``NE``: the header that asked for silence
  may be what is wrong, and a refused message must not go unnoticed. The application
  acknowledgement MSH-16 asks for is not sent (MedOA has no way back to the sender but the answer
  on the same connection); the commit acknowledgement is the answer.
- The ACK's MSH mirrors the message's: sending and receiving application and facility swapped,
  the same separators, processing ID (MSH-11), version (MSH-12) and character set (MSH-18);
  MSH-9 ``ACK^<trigger>^ACK`` (``ACK^<trigger>`` before v2.3.1); a control ID of its own (MSH-10).
- MSA-2 echoes MSH-10. On an error: an ERR segment — v2.5 and later ERR-2 location, ERR-3 the
  table 0357 code, ERR-4 severity ``E``, ERR-8 the reason; before v2.5 ERR-1 (segment^sequence^
  field^code&text&HL70357) and the reason in MSA-3 as well.
- A batch or file (BHS/FHS) is answered, as §2.10.3 describes for acknowledging each message, with
  an acknowledgement batch: ``[FHS] BHS {MSH MSA [ERR]} BTS [FTS]``, BHS-12/FHS-12 naming the batch
  or file control ID it answers, BTS-1 the number of ACKs.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass

from django.utils import timezone

from .decoding import DEFAULT_SEPARATORS, Header, Problem

APPLICATION = "MedOA"
TEXT_0357 = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}
ENHANCED = {"AA": "CA", "AE": "CE", "AR": "CR"}

_counter = itertools.count(1)
_prefix = f"{os.getpid():x}"


def new_control_id() -> str:
    """A control ID for an ACK we send: time, process and a counter (unique, at most 20 chars)."""
    return f"M{int(time.time()):x}{_prefix}{next(_counter):x}"[:20]


def timestamp() -> str:
    return timezone.localtime().strftime("%Y%m%d%H%M%S%z")


def escape(text: str, separators: str) -> str:
    """HL7 escape sequences for the separators (``\\F\\ \\S\\ \\R\\ \\E\\ \\T\\``); line ends to spaces."""
    seps = (separators + DEFAULT_SEPARATORS[len(separators) :])[:5]
    field, comp, rep, esc, sub = seps[0], seps[1], seps[2], seps[3], seps[4]
    out = text.replace(esc, f"{esc}E{esc}")
    for char, code in ((field, "F"), (comp, "S"), (rep, "R"), (sub, "T")):
        out = out.replace(char, f"{esc}{code}{esc}")
    return out.replace("\r", " ").replace("\n", " ")


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (2, 5)


@dataclass(frozen=True)
class Ack:
    """The acknowledgement for one message: its text, and the MSA-1 code sent (for the store)."""

    text: str
    code: str
    send: bool = True  # False when enhanced mode's MSH-15 says not to answer


def build_ack(header: Header | None, *, problem: Problem | None = None) -> Ack:
    """The ACK for a message whose header is ``header`` (``None``: unreadable) and that was
    accepted (``problem`` None) or not."""
    code = problem.ack if problem else "AA"
    seps = header.separators if header is not None else DEFAULT_SEPARATORS
    sep, comp, sub = seps[0], seps[1], seps[4]
    enc = seps[1:5] if header is None else header.field(2)[:5]
    version = header.version if header is not None and header.version else "2.5"
    send = True
    if header is not None and header.enhanced:
        code = ENHANCED[code]
        mode = header.accept_ack_type or "AL"
        # A refusal is always answered, even under NE: the header it came with may be the error.
        send = problem is not None or mode in ("AL", "SU")
    trigger = header.trigger_event if header is not None else ""
    if _version_tuple(version) >= (2, 3, 1):
        msh9 = f"ACK{comp}{trigger}{comp}ACK" if trigger else "ACK"
    else:
        msh9 = f"ACK{comp}{trigger}" if trigger else "ACK"
    if header is not None:
        fields = [
            "MSH",
            enc,
            header.receiving_application or APPLICATION,
            header.receiving_facility,
            header.sending_application,
            header.sending_facility,
            timestamp(),
            "",
            msh9,
            new_control_id(),
            header.field(11) or "P",
            header.field(12) or version,
        ]
        charset = header.field(18)
        if charset:
            fields += ["", "", "", "", "", charset]
    else:
        fields = ["MSH", enc, APPLICATION, "", "", "", timestamp(), "", msh9, new_control_id(), "P", version]
    segments = [sep.join(fields)]
    control_id = header.control_id if header is not None else ""
    msa = ["MSA", code, escape(control_id, seps) if header is None else header.field(10)]
    old = _version_tuple(version) < (2, 5)
    if problem is not None and old:
        msa.append(escape(problem.reason, seps)[:80])
    segments.append(sep.join(msa))
    if problem is not None:
        text_0357 = TEXT_0357.get(problem.code, "")
        seg_id, seq, position = problem.location or ("", 0, 0)
        if old:
            location = comp.join(
                [seg_id, str(seq or ""), str(position or ""), sub.join([problem.code, text_0357, "HL70357"])]
            )
            segments.append(sep.join(["ERR", location]))
        else:
            location = comp.join([seg_id, str(seq or ""), str(position or "")]) if seg_id else ""
            segments.append(
                sep.join(
                    [
                        "ERR",
                        "",
                        location,
                        comp.join([problem.code, text_0357, "HL70357"]),
                        "E",
                        "",
                        "",
                        "",
                        escape(problem.reason, seps),
                    ]
                )
            )
    return Ack(text="\r".join(segments), code=code, send=send)


def build_batch_ack(acks: list[str], *, file_header: Header | None, batch_header: Header | None) -> str:
    """An acknowledgement batch answering a batch/file: ``[FHS] BHS {ACK} BTS [FTS]``."""
    model = batch_header or file_header
    seps = model.separators if model is not None else DEFAULT_SEPARATORS
    sep = seps[0]
    enc = model.field(2)[:5] if model is not None else seps[1:5]

    def header(seg_id: str, original: Header | None) -> str:
        fields = [
            seg_id,
            enc,
            (original.field(5) if original else "") or APPLICATION,
            original.field(6) if original else "",
            original.field(3) if original else "",
            original.field(4) if original else "",
            timestamp(),
            "",
            "",
            "",
            new_control_id(),
            original.field(11) if original else "",
        ]
        return sep.join(fields)

    segments: list[str] = []
    if file_header is not None:
        segments.append(header("FHS", file_header))
    segments.append(header("BHS", batch_header))
    segments.extend(acks)
    segments.append(sep.join(["BTS", str(len(acks))]))
    if file_header is not None:
        segments.append(sep.join(["FTS", "1"]))
    return "\r".join(segments)
