"""A burst of signals while the main thread waits: the process keeps running and ends."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

# The child waits on an event in a loop for two seconds while its handler sets that event on
# SIGUSR1; with ``Event.set()`` in the handler itself it hung or died of a RecursionError.
CHILD = textwrap.dedent(
    """
    import signal, sys, threading, time
    from medoa.core.runtime.signals import set_from_signal

    event = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: set_from_signal(event))
    print("ready", flush=True)
    end = time.monotonic() + 2
    woken = 0
    while time.monotonic() < end:
        if event.wait(0.0005):
            event.clear()
            woken += 1
    print("woken", woken, flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_burst_of_signals_sets_the_event_without_hanging_the_waiting_main_thread() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        started = time.monotonic()
        while time.monotonic() - started < 1.5 and child.poll() is None:
            child.send_signal(signal.SIGUSR1)
            time.sleep(0.0002)
        out, err = child.communicate(timeout=20)
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert out.startswith("woken "), err
    assert int(out.split()[1]) > 0
