"""From the bytes of one frame (or one HTTP body) to HL7 v2 messages: character set, line ends,
envelopes, and the header checks that decide whether a message can be accepted at all.

- **Character set** — MSH-18 of the first MSH (its first repetition) names it: ``UNICODE UTF-8``,
  ``GB 18030-2000``, ``8859/1``, ``ASCII`` … (HL7 table 0211, spelt with or without spaces and
  dashes); none declared: ``MEDOA_HL7_DEFAULT_CHARSET`` (UTF-8). A UTF-8 byte-order mark is
  stripped first. Bytes that are not valid in the declared set are not guessed at: the message is
  rejected with the byte offset in the reason.
- **Line ends** — ``\\r\\n`` and ``\\n`` become ``\\r`` (the HL7 segment terminator); blank segments are
  dropped.
- **Envelopes** — ``FHS``/``BHS``…``BTS``/``FTS`` around messages (a file, a batch, or a file of
  batches) are split into their messages; several MSH in one frame without a BHS are taken as a
  batch without header. A BHS or FHS inside a message, or an envelope without any MSH, is an error.
- **Header checks** — MSH first; MSH-1/MSH-2 usable (four distinct, non-alphanumeric encoding
  characters; a fifth, the v2.7 truncation character, allowed); MSH-9 and MSH-10 present; MSH-12 a
  v2.x version; every segment starts with a three-character segment ID.

Nothing here touches the database; ``receive`` decides what to store and answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
DEFAULT_SEPARATORS = "|^~\\&"

# HL7 table 0211 (alternate character sets), keyed without spaces, dashes and underscores.
_CHARSETS = {
    "ASCII": "ascii",
    "UNICODE": "utf-8",  # "UNICODE" (ISO/IEC 10646) as senders use it: UTF-8 on the wire
    "UNICODEUTF8": "utf-8",
    "UTF8": "utf-8",
    "GB180302000": "gb18030",
    "GB180302005": "gb18030",
    "GB18030": "gb18030",
    "GB2312": "gb18030",  # GB 18030 is a superset of GB 2312 and GBK
    "GBK": "gb18030",
    "BIG5": "big5",
    "KSX1001": "euc_kr",
    "ISOIR87": "iso2022_jp",
    "ISOIR159": "iso2022_jp_1",
    "ISOIR14": "shift_jis",
    **{f"8859{n}": f"iso8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 15)},
}
_SEGMENT_ID = re.compile(r"[A-Z0-9]{3}\Z")
_VERSION = re.compile(r"2\.[1-9](\.\d{1,2})?\Z")
ENVELOPE_SEGMENTS = frozenset({"FHS", "BHS", "BTS", "FTS"})


def codec_for(name: str) -> str | None:
    """The Python codec for an MSH-18 value, or ``None`` when it is not one we read."""
    key = re.sub(r"[\s\-_/]", "", name).upper()
    return _CHARSETS.get(key)


def default_charset() -> str:
    return str(getattr(settings, "MEDOA_HL7_DEFAULT_CHARSET", "") or "utf-8")


@dataclass(frozen=True)
class Problem:
    """Why a message (or a whole frame) cannot be accepted.

    ``ack``: AR (rejected before the content is looked at: the header, the character set, the
    sender, the size) or AE (an error in the content); ``code``: HL7 table 0357; ``location``:
    segment ID, segment sequence, field position (for ERR-2).
    """

    reason: str
    ack: str = "AR"
    code: str = "207"
    location: tuple[str, int, int] | None = None


@dataclass
class Header:
    """MSH (or BHS/FHS, whose first twelve fields line up) split into fields: ``field(n)`` is
    MSH-n as text, escapes left in."""

    segment: str
    fields: list[str]
    separators: str  # field, component, repetition, escape, subcomponent

    @classmethod
    def parse(cls, segment: str) -> Header:
        sep = segment[3]
        parts = segment.split(sep)
        enc = parts[1] if len(parts) > 1 else ""
        fields = [parts[0], sep, *parts[1:]]
        seps = sep + enc[:4] + DEFAULT_SEPARATORS[1 + len(enc[:4]) :]
        return cls(segment=segment, fields=fields, separators=seps)

    def field(self, n: int) -> str:
        return self.fields[n] if n < len(self.fields) else ""

    def component(self, n: int, c: int = 1) -> str:
        value = self.field(n).split(self.separators[2])[0]  # the first repetition
        parts = value.split(self.separators[1])
        return parts[c - 1] if c - 1 < len(parts) else ""

    @property
    def sending_application(self) -> str:
        return self.field(3)

    @property
    def sending_facility(self) -> str:
        return self.field(4)

    @property
    def receiving_application(self) -> str:
        return self.field(5)

    @property
    def receiving_facility(self) -> str:
        return self.field(6)

    @property
    def message_type(self) -> str:
        return self.component(9, 1).strip().upper()

    @property
    def trigger_event(self) -> str:
        return self.component(9, 2).strip().upper()

    @property
    def control_id(self) -> str:
        return self.field(10).strip()

    @property
    def processing_id(self) -> str:
        return self.component(11, 1)

    @property
    def version(self) -> str:
        return self.component(12, 1).strip()

    @property
    def accept_ack_type(self) -> str:  # MSH-15
        return self.field(15).strip().upper()

    @property
    def application_ack_type(self) -> str:  # MSH-16
        return self.field(16).strip().upper()

    @property
    def charset(self) -> str:  # MSH-18, first repetition
        return self.field(18).split(self.separators[2])[0].strip()

    @property
    def enhanced(self) -> bool:
        """Enhanced acknowledgement mode: MSH-15 or MSH-16 valued (HL7 v2.5 §2.9.3)."""
        return bool(self.accept_ack_type or self.application_ack_type)


# --- character set ---------------------------------------------------------------------------------


def _declared_charset(payload: bytes) -> str:
    """MSH-18 of the first MSH segment, read from the bytes (table 0211 names are ASCII)."""
    start = 0 if payload.startswith(b"MSH") else -1
    if start < 0:
        for marker in (b"\rMSH", b"\nMSH"):
            found = payload.find(marker)
            if found >= 0 and (start < 0 or found + 1 < start):
                start = found + 1
    if start < 0 or len(payload) < start + 8:
        return ""
    end = len(payload)
    for terminator in (b"\r", b"\n"):
        found = payload.find(terminator, start)
        if 0 <= found < end:
            end = found
    segment = payload[start:end].decode("latin-1")
    try:
        return Header.parse(segment).charset
    except IndexError:
        return ""


@dataclass
class Decoded:
    text: str = ""
    charset: str = ""  # the codec used
    declared: str = ""  # MSH-18 as sent
    problem: Problem | None = None


def decode(payload: bytes) -> Decoded:
    """Bytes → text with ``\\r`` segment ends, by MSH-18; a ``problem`` when that cannot be done."""
    if payload.startswith(UTF8_BOM):
        payload = payload[len(UTF8_BOM) :]
    if payload.startswith(UTF16_BOMS):
        return Decoded(
            problem=Problem("UTF-16 is not supported over MLLP; send UTF-8 or GB 18030", code="102")
        )
    if b"\x00" in payload:  # no text encoding HL7 names uses NUL; PostgreSQL text cannot hold it
        return Decoded(
            problem=Problem(f"the message contains a NUL byte (byte {payload.index(0)})", code="102")
        )
    declared = _declared_charset(payload)
    codec = codec_for(declared) if declared else default_charset()
    if codec is None:
        return Decoded(
            declared=declared,
            problem=Problem(
                f"character set {declared!r} (MSH-18) is not supported", code="103", location=("MSH", 1, 18)
            ),
        )
    try:
        text = payload.decode(codec)
    except UnicodeDecodeError as exc:
        name = declared or codec
        return Decoded(
            declared=declared,
            charset=codec,
            problem=Problem(f"the message is not valid {name} text (byte {exc.start})", code="102"),
        )
    except LookupError:  # a codec Python lacks on this build
        return Decoded(declared=declared, problem=Problem(f"character set {declared!r} is not available"))
    return Decoded(text=normalise(text), charset=codec, declared=declared)


def normalise(text: str) -> str:
    """``\\r\\n`` and ``\\n`` → ``\\r``; blank segments (empty or only spaces) dropped."""
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    return "\r".join(s for s in text.split("\r") if s.strip())


# --- structure -------------------------------------------------------------------------------------


@dataclass
class Parsed:
    """One message out of a frame: its segments' text and its header (when one could be read)."""

    text: str
    header: Header | None = None
    problem: Problem | None = None
    patient_id: str = ""


@dataclass
class Split:
    """A frame's content: its messages and the envelope headers around them."""

    messages: list[Parsed] = field(default_factory=list)
    file_header: Header | None = None  # FHS
    batch_header: Header | None = None  # BHS (the first, when a file holds several)
    problem: Problem | None = None  # the whole frame is unusable (then ``messages`` is empty)

    @property
    def is_envelope(self) -> bool:
        return bool(self.file_header or self.batch_header or len(self.messages) > 1)


def _usable_separators(segment: str) -> str | None:
    """Why MSH-1/MSH-2 (or BHS/FHS-1/2) cannot be used, or ``None`` when they can."""
    if len(segment) < 8:
        return "the header is too short to hold its field separator and encoding characters"
    sep = segment[3]
    if sep.isalnum() or sep.isspace():
        return f"field separator {sep!r} (MSH-1) is not usable"
    enc = segment[4:].split(sep, 1)[0]
    if len(enc) not in (4, 5):
        return f"encoding characters {enc!r} (MSH-2) must be four characters, such as '^~\\&'"
    if len(set(enc)) != len(enc) or sep in enc:
        return f"encoding characters {enc!r} (MSH-2) repeat a character or the field separator"
    if any(ch.isalnum() or ch.isspace() for ch in enc):
        return f"encoding characters {enc!r} (MSH-2) must not be letters, digits or spaces"
    return None


def _check_message(segments: list[str], header: Header) -> Problem | None:
    sep = header.separators[0]
    for i, segment in enumerate(segments):
        seg_id = segment[:3]
        if not _SEGMENT_ID.match(seg_id) or (len(segment) > 3 and segment[3] != sep):
            return Problem(
                f"segment {i + 1} does not start with a segment ID and the field separator: {segment[:20]!r}",
                ack="AE",
                code="100",
                location=(seg_id, i + 1, 0),
            )
        if i and seg_id in ENVELOPE_SEGMENTS:
            return Problem(
                f"{seg_id} inside a message (segment {i + 1})", code="100", location=(seg_id, i + 1, 0)
            )
        if i and seg_id == "MSH":
            return Problem("MSH inside a message", code="100", location=("MSH", i + 1, 0))
    if not header.message_type:
        return Problem("MSH-9 (message type) is empty", code="101", location=("MSH", 1, 9))
    if not header.control_id:
        return Problem("MSH-10 (message control ID) is empty", code="101", location=("MSH", 1, 10))
    if not header.version:
        return Problem("MSH-12 (version ID) is empty", code="101", location=("MSH", 1, 12))
    if not _VERSION.match(header.version):
        return Problem(
            f"version {header.version!r} (MSH-12) is not supported", code="203", location=("MSH", 1, 12)
        )
    return None


def patient_identifier(segments: list[str], header: Header) -> str:
    """PID-3's first identifier (its ID number), or ''."""
    sep, comp, rep = header.separators[0], header.separators[1], header.separators[2]
    for segment in segments:
        if segment.startswith("PID" + sep):
            fields = segment.split(sep)
            if len(fields) > 3:
                for identifier in fields[3].split(rep):
                    value = identifier.split(comp)[0].strip()
                    if value:
                        return value[:100]
            return ""
    return ""


def _message(segments: list[str]) -> Parsed:
    text = "\r".join(segments)
    why = _usable_separators(segments[0])
    if why:
        return Parsed(text=text, problem=Problem(why, code="102", location=("MSH", 1, 2)))
    header = Header.parse(segments[0])
    problem = _check_message(segments, header)
    return Parsed(
        text=text,
        header=header,
        problem=problem,
        patient_id=patient_identifier(segments, header) if problem is None else "",
    )


def split(text: str) -> Split:
    """Cut normalised text into messages, inside their FHS/BHS envelopes if any."""
    segments = text.split("\r") if text else []
    if not segments:
        return Split(problem=Problem("the message is empty", code="100"))
    out = Split()
    current: list[str] = []
    for segment in segments:
        seg_id = segment[:3]
        if seg_id in ("FHS", "BHS"):
            if current:  # a header inside a message: _check_message says so
                current.append(segment)
                continue
            why = _usable_separators(segment)
            if why:
                out.problem = Problem(why.replace("MSH", seg_id), code="102", location=(seg_id, 1, 2))
                return out
            header = Header.parse(segment)
            if seg_id == "FHS":
                if out.file_header or out.batch_header or out.messages:
                    out.problem = Problem(
                        "FHS after the start of the file", code="100", location=("FHS", 1, 0)
                    )
                    return out
                out.file_header = header
            elif out.batch_header is None:
                out.batch_header = header
            continue
        if seg_id in ("BTS", "FTS"):
            if current:
                out.messages.append(_message(current))
                current = []
            continue
        if seg_id == "MSH":
            if current:
                out.messages.append(_message(current))
            current = [segment]
            continue
        if not current:
            out.problem = Problem(
                f"the message does not start with MSH (it starts with {segment[:20]!r})",
                code="100",
                location=(seg_id if _SEGMENT_ID.match(seg_id) else "MSH", 1, 0),
            )
            return out
        current.append(segment)
    if current:
        out.messages.append(_message(current))
    if not out.messages:
        where = "file" if out.file_header else "batch"
        out.problem = Problem(f"the {where} holds no message (no MSH segment)", code="100")
    return out
