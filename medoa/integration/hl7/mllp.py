"""The MLLP listener (``medoa mllp``): an asyncio TCP server in front of ``receive``.

Each connection reads frames (``FrameDecoder``) and answers them in order, one ACK frame per
message frame. The database work runs in a small thread pool (Django's ORM is synchronous), with
**group commit**: the frames that arrive, on any connection, while a transaction is being written
are stored together in the next one, then all of them are acknowledged. With eight senders that
each wait for their ACK, one transaction carries up to eight messages, so the cost of a durable
commit (the WAL flush) is shared. ``committers`` transactions may be under way at once (PostgreSQL;
SQLite has one writer, so one).

Limits: ``max_connections`` (one more is closed at once, logged), ``idle_timeout`` (a connection
without a byte for that long is closed), the frame size (``MEDOA_HL7_MAX_FRAME_MB``). Graceful
shutdown (SIGTERM, SIGINT, ``stop()``): stop accepting, close the connections that wait for data,
let the frames already read be stored and acknowledged (up to ``grace`` seconds), then close.
A frame that was cut off stays unacknowledged: the sender sends it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connection, connections

from .framing import FrameDecoder, encode_frame
from .receive import Incoming, prepare, store

logger = logging.getLogger("medoa.hl7.mllp")

DEFAULT_PORT = 2575
READ_SIZE = 256 * 1024
MAX_GROUP = 500  # messages in one transaction at most


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default) or default)


def _store_group(group: list[Incoming]) -> None:
    """Run in a pool thread: one transaction for the group (``store`` answers AR if it fails)."""
    close_old_connections()
    store(group)


@dataclass
class _Waiting:
    incoming: Incoming
    future: asyncio.Future[bytes]


@dataclass
class Stats:
    connections: int = 0
    frames: int = 0
    groups: int = 0
    refused_connections: int = 0
    started_at: float = field(default_factory=time.monotonic)


class GroupCommitter:
    """Stores what is submitted in groups: each of ``workers`` loops takes everything waiting (up
    to ``MAX_GROUP``) and writes it in one transaction in the pool."""

    def __init__(self, *, workers: int) -> None:
        self.workers = workers
        self.queue: asyncio.Queue[_Waiting] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hl7-store")
        self.tasks: list[asyncio.Task[None]] = []
        self.stats_groups = 0
        self.stats_messages = 0

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._run(), name=f"hl7-commit-{i}") for i in range(self.workers)]

    async def submit(self, incoming: Incoming) -> bytes:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        await self.queue.put(_Waiting(incoming, future))
        return await asyncio.shield(future)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self.queue.get()
            group = [first]
            while len(group) < MAX_GROUP and not self.queue.empty():
                group.append(self.queue.get_nowait())
            incomings = [w.incoming for w in group]
            try:
                await loop.run_in_executor(self.executor, _store_group, incomings)
            except Exception:  # store() answers database errors itself; anything else: no ACK
                logger.exception("MLLP: storing a group of %d frame(s) failed", len(group))
                for waiting in group:
                    if not waiting.future.done():
                        waiting.future.set_exception(ConnectionAbortedError("not stored"))
                continue
            self.stats_groups += 1
            self.stats_messages += len(group)
            for waiting in group:
                if not waiting.future.done():
                    waiting.future.set_result(waiting.incoming.answer)

    async def close(self) -> None:
        while not self.queue.empty():  # what was read is stored before the loops stop
            await asyncio.sleep(0.01)
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._close_pool)

    def _close_pool(self) -> None:
        def close_connection() -> None:
            connection.close()

        futures = [self.executor.submit(close_connection) for _ in range(self.workers)]
        for f in futures:
            with contextlib.suppress(Exception):
                f.result(5)
        self.executor.shutdown(wait=True)


def _peer_of(writer: asyncio.StreamWriter) -> str:
    info = writer.get_extra_info("peername")
    if not info:
        return ""
    host, port = info[0], info[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class MllpServer:
    def __init__(
        self,
        *,
        host: str = "0.0.0.0",  # noqa: S104 — a listener for other machines
        port: int = DEFAULT_PORT,
        max_connections: int | None = None,
        idle_timeout: float | None = None,
        committers: int | None = None,
        grace: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.max_connections = int(max_connections or _setting("MEDOA_HL7_MAX_CONNECTIONS", 100))
        self.idle_timeout = float(idle_timeout or _setting("MEDOA_HL7_IDLE_SECONDS", 600))
        default_committers = 1 if connections["default"].vendor == "sqlite" else 2
        self.committers = int(committers or _setting("MEDOA_HL7_COMMITTERS", default_committers))
        self.grace = grace
        self.stats = Stats()
        self._server: asyncio.Server | None = None
        self._committer: GroupCommitter | None = None
        self._handlers: dict[asyncio.Task[None], bool] = {}  # task → busy (frames being stored)
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()

    # --- the asyncio side ---

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._committer = GroupCommitter(workers=self.committers)
        self._committer.start()
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=READ_SIZE, reuse_address=True, backlog=256
        )
        sockets: list[socket.socket] = list(self._server.sockets or [])
        if sockets:
            self.port = sockets[0].getsockname()[1]
        logger.info("MLLP listening on %s port %d", self.host, self.port)
        self.ready.set()

    async def serve(self) -> None:
        """Start, run until ``request_stop()``, then shut down gracefully."""
        await self.start()
        assert self._stop_event is not None
        await self._stop_event.wait()
        await self.shutdown()

    def request_stop(self) -> None:
        """Ask for a graceful stop (from any thread or a signal handler)."""
        if self._loop is not None and self._stop_event is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)

    async def shutdown(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for task, busy in list(self._handlers.items()):
            if not busy:
                task.cancel()
        deadline = time.monotonic() + self.grace
        while self._handlers and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            for task, busy in list(self._handlers.items()):
                if not busy:
                    task.cancel()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._committer is not None:
            await self._committer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        logger.info(
            "MLLP listener stopped (%d frames on %d connections)", self.stats.frames, self.stats.connections
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer_of(writer)
        task = asyncio.current_task()
        assert task is not None
        if self._stopping or len(self._handlers) >= self.max_connections:
            self.stats.refused_connections += 1
            logger.warning(
                "MLLP %s: refused (%d connections open, the most allowed)", peer, len(self._handlers)
            )
            writer.close()
            return
        self._handlers[task] = False
        self.stats.connections += 1
        decoder = FrameDecoder(peer=peer)
        assert self._committer is not None
        try:
            while not self._stopping:
                try:
                    data = await asyncio.wait_for(reader.read(READ_SIZE), self.idle_timeout)
                except TimeoutError:
                    logger.info("MLLP %s: idle for %.0f s; closed", peer, self.idle_timeout)
                    break
                if not data:
                    break
                frames = decoder.feed(data)
                if not frames:
                    continue
                self._handlers[task] = True
                for frame in frames:
                    incoming = prepare(
                        frame.payload,
                        transport="mllp",
                        peer=peer,
                        too_long=frame.size if frame.too_long else None,
                    )
                    answer = await self._committer.submit(incoming)
                    self.stats.frames += 1
                    if answer:
                        writer.write(encode_frame(answer))
                await writer.drain()
                self._handlers[task] = False
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("MLLP %s: connection failed", peer)
        finally:
            self._handlers.pop(task, None)
            if decoder.pending:
                logger.warning(
                    "MLLP %s: closed in the middle of a frame (%d bytes dropped)", peer, decoder.pending
                )
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    # --- running it ---

    def run(self, *, install_signals: bool = True) -> None:
        """Run in this thread until SIGTERM/SIGINT (or ``request_stop``)."""

        async def main() -> None:
            if install_signals:
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(signum, self.request_stop)
            await self.serve()

        asyncio.run(main())

    def start_in_thread(self, timeout: float = 10.0) -> int:
        """Run in a background thread (tests, benchmarks); returns the port once listening."""
        self._thread = threading.Thread(target=self.run, kwargs={"install_signals": False}, daemon=True)
        self._thread.start()
        if not self.ready.wait(timeout):
            raise RuntimeError("the MLLP listener did not start")
        return self.port

    def stop(self, timeout: float = 15.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
