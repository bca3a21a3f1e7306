"""The MLLP listener over real sockets: framing on the wire, ACKs, limits, shutdown."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from medoa.integration.hl7.framing import END, START, FrameDecoder, encode_frame
from medoa.integration.hl7.mllp import MllpServer
from medoa.integration.hl7.models import Message, MessageStatus, Sender
from medoa.integration.hl7.receive import forget_allow_list

from .hl7_samples import message, segments_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def loopback(db: object) -> Iterator[Sender]:
    forget_allow_list()
    yield Sender.objects.create(name="loopback", address="127.0.0.1", facility="*", scopes=["hl7:*"])
    forget_allow_list()


def start(**kwargs: object) -> MllpServer:
    server = MllpServer(host="127.0.0.1", port=0, **kwargs)  # type: ignore[arg-type]
    server.start_in_thread()
    return server


@pytest.fixture
def server(loopback: Sender) -> Iterator[MllpServer]:
    srv = start()
    yield srv
    srv.stop()


def connect(server: MllpServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_frames(sock: socket.socket, count: int) -> list[bytes]:
    decoder = FrameDecoder(max_bytes=1 << 20)
    frames: list[bytes] = []
    while len(frames) < count:
        data = sock.recv(65536)
        if not data:
            break
        frames += [f.payload for f in decoder.feed(data)]
    return frames


def test_one_message_one_ack(server: MllpServer) -> None:
    with connect(server) as sock:
        sock.sendall(encode_frame(message("M1").encode()))
        [ack] = read_frames(sock, 1)
    assert segments_of(ack)["MSA"][1:3] == ["AA", "M1"]
    row = Message.objects.get()
    assert row.transport == "mllp" and row.peer.startswith("127.0.0.1:")
    assert row.status == MessageStatus.RECEIVED


def test_frame_split_byte_by_byte_and_junk_before_the_start(server: MllpServer) -> None:
    data = b"garbage\r\n" + encode_frame(message("M2").encode())
    with connect(server) as sock:
        for i in range(len(data)):
            sock.send(data[i : i + 1])
        [ack] = read_frames(sock, 1)
    assert segments_of(ack)["MSA"][1:3] == ["AA", "M2"]


def test_several_frames_in_one_write_are_answered_in_order(server: MllpServer) -> None:
    data = b"".join(encode_frame(message(f"M3-{i}").encode()) for i in range(20))
    with connect(server) as sock:
        sock.sendall(data)
        acks = read_frames(sock, 20)
    assert [segments_of(a)["MSA"][2] for a in acks] == [f"M3-{i}" for i in range(20)]
    assert Message.objects.filter(status="received").count() == 20


def test_end_bytes_split_across_reads(server: MllpServer) -> None:
    body = START + message("M4").encode() + END[:1]
    with connect(server) as sock:
        sock.sendall(body)
        time.sleep(0.2)
        sock.sendall(END[1:])
        [ack] = read_frames(sock, 1)
    assert segments_of(ack)["MSA"][2] == "M4"


def test_frame_over_the_maximum_is_refused_and_the_connection_goes_on(server: MllpServer) -> None:
    big = message("M5").encode() + b"OBX|1|TX|||" + b"x" * (17 * 1024 * 1024) + b"\r"
    with connect(server) as sock:
        sock.sendall(encode_frame(big))
        [ack] = read_frames(sock, 1)
        sock.sendall(encode_frame(message("M6").encode()))
        [ack2] = read_frames(sock, 1)
    refused = segments_of(ack)
    assert refused["MSA"][1:3] == ["AR", "M5"]
    assert "more than the maximum of 16777216" in refused["ERR"][8]
    assert segments_of(ack2)["MSA"][1:3] == ["AA", "M6"]
    rejected = Message.objects.get(status=MessageStatus.REJECTED)
    assert rejected.control_id == "M5"
    assert len(bytes(rejected.raw_bytes or b"")) == 64 * 1024


def test_duplicate_over_mllp_gets_the_same_ack(server: MllpServer) -> None:
    with connect(server) as sock:
        sock.sendall(encode_frame(message("M7").encode()))
        [first] = read_frames(sock, 1)
    with connect(server) as sock:
        sock.sendall(encode_frame(message("M7").encode()))
        [second] = read_frames(sock, 1)
    assert first == second
    assert sorted(Message.objects.values_list("status", flat=True)) == ["duplicate", "received"]


def test_address_not_on_the_allow_list_is_answered_ar(server: MllpServer, loopback: Sender) -> None:
    loopback.address = "10.0.0.0/8"
    loopback.save()
    forget_allow_list()
    with connect(server) as sock:
        sock.sendall(encode_frame(message("M8").encode()))
        [ack] = read_frames(sock, 1)
    parsed = segments_of(ack)
    assert parsed["MSA"][1:3] == ["AR", "M8"]
    assert "not on the MLLP allow-list" in parsed["ERR"][8]
    assert Message.objects.get().status == MessageStatus.REJECTED


def test_concurrent_senders_all_acknowledged(server: MllpServer) -> None:
    errors: list[str] = []

    def sender(n: int) -> None:
        with connect(server) as sock:
            for i in range(25):
                sock.sendall(encode_frame(message(f"S{n}-{i}").encode()))
                [ack] = read_frames(sock, 1)
                if segments_of(ack)["MSA"][1:3] != ["AA", f"S{n}-{i}"]:
                    errors.append(ack.decode())

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert Message.objects.filter(status="received").count() == 200


def test_idle_connection_is_closed(loopback: Sender) -> None:
    srv = start(idle_timeout=0.3)
    try:
        with connect(srv) as sock:
            time.sleep(0.8)
            assert sock.recv(10) == b""
    finally:
        srv.stop()


def test_connections_over_the_maximum_are_closed(loopback: Sender) -> None:
    srv = start(max_connections=2)
    try:
        a, b = connect(srv), connect(srv)
        time.sleep(0.2)
        with connect(srv) as c:
            assert c.recv(10) == b""
        a.sendall(encode_frame(message("M9").encode()))
        assert segments_of(read_frames(a, 1)[0])["MSA"][1] == "AA"
        a.close()
        b.close()
        assert srv.stats.refused_connections == 1
    finally:
        srv.stop()


def test_graceful_stop_closes_waiting_connections(loopback: Sender) -> None:
    srv = start()
    sock = connect(srv)
    sock.sendall(encode_frame(message("M10").encode()))
    [ack] = read_frames(sock, 1)
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 5
    assert sock.recv(10) == b""
    sock.close()
    assert segments_of(ack)["MSA"][1] == "AA"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()


def test_the_same_message_on_eight_connections_at_once_is_stored_once(server: MllpServer) -> None:
    frame = encode_frame(message("RACE1").encode())
    socks = [connect(server) for _ in range(8)]
    barrier = threading.Barrier(8)
    answers: list[bytes] = []

    def send(sock: socket.socket) -> None:
        barrier.wait()
        sock.sendall(frame)
        answers.extend(read_frames(sock, 1))

    threads = [threading.Thread(target=send, args=(s,)) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for sock in socks:
        sock.close()

    assert len(answers) == 8 and len(set(answers)) == 1  # the one stored ACK, eight times
    statuses = sorted(Message.objects.values_list("status", flat=True))
    assert statuses == ["duplicate"] * 7 + ["received"]
    original = Message.objects.get(status="received")
    assert set(Message.objects.filter(status="duplicate").values_list("duplicate_of_id", flat=True)) == {
        original.pk
    }
