"""MLLP framing (HL7 v2 Minimal Lower Layer Protocol, release 1): ``0x0B <message> 0x1C 0x0D``.

``FrameDecoder`` is a sans-I/O decoder: feed it whatever a read returned and it hands back the
complete frames, however the bytes were cut — a frame split across many reads, several frames in
one read. Bytes outside a frame (before its ``0x0B``) are discarded and logged. A frame longer than
the maximum is not kept: its first ``HEAD_BYTES`` are (so the header can still be read and an
AR sent), the rest is skipped up to its end, and the frame comes out with ``too_long`` set.

Scanning is linear: each byte is looked at once, however small the reads (a 16 MiB frame in 1 KiB
reads does not rescan the buffer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger("medoa.hl7.mllp")

START = b"\x0b"
END = b"\x1c\x0d"
DEFAULT_MAX_FRAME_MB = 16
HEAD_BYTES = 64 * 1024  # what is kept of a frame that is too long (its header, for the AR)


def max_frame_bytes() -> int:
    """The largest frame accepted, from ``MEDOA_HL7_MAX_FRAME_MB`` (default and minimum 16 MiB)."""
    mb = float(getattr(settings, "MEDOA_HL7_MAX_FRAME_MB", DEFAULT_MAX_FRAME_MB) or DEFAULT_MAX_FRAME_MB)
    return int(max(mb, DEFAULT_MAX_FRAME_MB) * 1024 * 1024)


def encode_frame(payload: bytes) -> bytes:
    return START + payload + END


@dataclass(frozen=True)
class Frame:
    """One complete frame's payload (without the start and end bytes).

    ``too_long``: the frame was longer than the maximum; ``payload`` then holds only its first
    ``HEAD_BYTES`` (at most the maximum) and ``size`` its full length.
    """

    payload: bytes
    size: int
    too_long: bool = False


class FrameDecoder:
    def __init__(self, *, max_bytes: int | None = None, peer: str = "") -> None:
        self.max_bytes = max_bytes if max_bytes is not None else max_frame_bytes()
        self.peer = peer
        self.head_bytes = min(HEAD_BYTES, self.max_bytes)
        self._buf = bytearray()
        self._in_frame = False
        self._scanned = 0  # bytes of _buf already searched for the end
        self._skipping = False  # inside a frame that is too long: _buf holds only its head
        self._size = 0  # the too-long frame's length so far
        self._last_1c = False  # (skipping) the last byte seen was 0x1C: maybe half of the end
        self.discarded = 0  # bytes thrown away outside frames, in total

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held (0 between frames)."""
        return len(self._buf) if self._in_frame else 0

    def _discard(self, count: int) -> None:
        if count:
            self.discarded += count
            logger.warning("MLLP %s: %d byte(s) outside a frame discarded", self.peer or "-", count)

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        pos = 0
        n = len(data)
        while pos < n:
            if not self._in_frame:
                start = data.find(START, pos)
                if start < 0:
                    self._discard(n - pos)
                    break
                self._discard(start - pos)
                pos = start + 1
                self._in_frame = True
                self._skipping = False
                self._buf.clear()
                self._scanned = 0
                continue
            if self._skipping:
                if self._last_1c and data[pos] == 0x0D:
                    self._size -= 1  # that 0x1C was the end's first byte
                    frames.append(self._finish_too_long())
                    pos += 1
                    continue
                end = data.find(END, pos)
                if end < 0:
                    self._size += n - pos
                    self._last_1c = data[n - 1] == 0x1C
                    break
                self._size += end - pos
                frames.append(self._finish_too_long())
                pos = end + 2
                continue
            self._buf += data[pos:] if pos else data
            pos = n
            # a 0x1C at the end of the previous read may pair with a 0x0D at the start of this one
            end = self._buf.find(END, max(0, self._scanned - 1))
            if end < 0:
                self._scanned = len(self._buf)
                if len(self._buf) > self.max_bytes + 1:  # + 1: a 0x1C may be half of the end
                    self._start_skipping()
                break
            pos = n - (len(self._buf) - (end + 2))  # what follows the end is looked at next
            if end > self.max_bytes:
                self._size = end
                frames.append(self._finish_too_long())
                continue
            frames.append(Frame(payload=bytes(self._buf[:end]), size=end))
            self._in_frame = False
            self._buf.clear()
            self._scanned = 0
        return frames

    def _start_skipping(self) -> None:
        self._size = len(self._buf)
        self._last_1c = self._buf[-1] == 0x1C
        del self._buf[self.head_bytes :]
        self._skipping = True
        logger.warning(
            "MLLP %s: frame longer than %d bytes; skipping to its end", self.peer or "-", self.max_bytes
        )

    def _finish_too_long(self) -> Frame:
        frame = Frame(payload=bytes(self._buf[: self.head_bytes]), size=self._size, too_long=True)
        logger.warning("MLLP %s: a frame of %d bytes was too long", self.peer or "-", self._size)
        self._in_frame = False
        self._skipping = False
        self._last_1c = False
        self._buf.clear()
        self._scanned = 0
        self._size = 0
        return frame
