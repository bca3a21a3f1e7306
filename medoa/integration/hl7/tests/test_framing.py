"""MLLP framing without sockets: cuts anywhere, several frames per read, junk, too-long frames."""

from __future__ import annotations

import random

import pytest

from medoa.integration.hl7.framing import HEAD_BYTES, FrameDecoder, encode_frame, max_frame_bytes


def feed_in_pieces(decoder: FrameDecoder, data: bytes, rng: random.Random, most: int) -> list:
    frames = []
    pos = 0
    while pos < len(data):
        size = rng.randint(1, most)
        frames += decoder.feed(data[pos : pos + size])
        pos += size
    return frames


@pytest.mark.parametrize("most", [1, 3, 50, 5000])
def test_frames_survive_any_cut(most: int) -> None:
    rng = random.Random(most)
    payloads = [bytes(rng.randrange(32, 127) for _ in range(rng.randint(0, 300))) for _ in range(60)]
    payloads += [b"", b"\x1c", b"a\x1c\x1cb", b"x" * 250, b"x" * 249 + b"\x1c", b"x" * 251, b"\x1c" * 270]
    data = b"junk" + b"".join(
        encode_frame(p) + (b"\r\n" if i % 5 == 0 else b"") for i, p in enumerate(payloads)
    )
    decoder = FrameDecoder(max_bytes=250)

    frames = feed_in_pieces(decoder, data, rng, most)

    assert len(frames) == len(payloads)
    for payload, frame in zip(payloads, frames, strict=True):
        if len(payload) > 250:
            assert frame.too_long and frame.size == len(payload) and frame.payload == payload[:250]
        else:
            assert not frame.too_long and frame.payload == payload and frame.size == len(payload)
    assert decoder.discarded == 4 + 2 * len([i for i in range(len(payloads)) if i % 5 == 0])
    assert decoder.pending == 0


def test_several_frames_in_one_read() -> None:
    decoder = FrameDecoder()
    frames = decoder.feed(encode_frame(b"MSH|1") + encode_frame(b"MSH|2") + encode_frame(b"MSH|3")[:-1])
    assert [f.payload for f in frames] == [b"MSH|1", b"MSH|2"]
    assert decoder.pending == len(b"MSH|3") + 1
    assert [f.payload for f in decoder.feed(b"\r")] == [b"MSH|3"]


def test_bytes_before_the_start_are_discarded_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    decoder = FrameDecoder(peer="10.0.0.1:5")
    frames = decoder.feed(b"\x00\x00hello" + encode_frame(b"MSH|x"))
    assert [f.payload for f in frames] == [b"MSH|x"]
    assert decoder.discarded == 7
    assert "10.0.0.1:5: 7 byte(s) outside a frame discarded" in caplog.text


def test_lone_end_bytes_inside_a_frame_are_data() -> None:
    decoder = FrameDecoder()
    assert [f.payload for f in decoder.feed(b"\x0bA\x1cB\x0dC\x1c\x0d")] == [b"A\x1cB\x0dC"]


def test_default_maximum_is_16_mib_and_a_17_mib_frame_is_cut_to_its_head(settings: object) -> None:
    assert max_frame_bytes() == 16 * 1024 * 1024
    decoder = FrameDecoder()
    payload = b"MSH|" + b"y" * (17 * 1024 * 1024)
    data = encode_frame(payload)
    frames = []
    for i in range(0, len(data), 1 << 16):
        frames += decoder.feed(data[i : i + (1 << 16)])
    [frame] = frames
    assert frame.too_long and frame.size == len(payload)
    assert frame.payload == payload[:HEAD_BYTES]


def test_maximum_is_configurable_but_never_below_16_mib(settings: object) -> None:
    settings.MEDOA_HL7_MAX_FRAME_MB = 64  # type: ignore[attr-defined]
    assert max_frame_bytes() == 64 * 1024 * 1024
    settings.MEDOA_HL7_MAX_FRAME_MB = 1  # type: ignore[attr-defined]
    assert max_frame_bytes() == 16 * 1024 * 1024
