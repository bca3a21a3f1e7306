"""A second process for column generation's pricing and for the DP sweeps' rows.

While column generation runs, CP-SAT does not: the second core of a two-worker run would idle,
and pricing is up to two thirds of a round (Instance15; GLOP the rest, on Instance13 most of it).
Threads do not help (the DP's Python part holds the GIL: Instance15 40 rounds in 10 s with a
pricing thread against 48 without), a process does. ``PricingProcess`` starts one (spawned: safe
beside the web server's and CP-SAT's threads), which builds the same pricing from the same problem
and, each round, prices the people it is sent against the round's duals. When it fails, hangs or
dies, the caller prices everybody itself.

The sweeps before the LNS (``search._Run.sweeps``) are sequential best responses, one core's work
too: ``submit_rows`` has the helper build one person's row against the cover the others leave
while this process builds the next person's (``search._Run._pair``).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import threading
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .colgen import Pricing
    from .problem import Problem

START_TIMEOUT = 30.0  # seconds a helper may take to import and build its pricing, else it is given up
ANSWER_TIMEOUT = 30.0  # seconds a helper may take for its share of a round (rounds take well under 1 s)


class PricingProcess:
    """The helper of ``colgen.ColumnGeneration``: ``submit`` a round, ``collect`` its rows. Rows it
    priced under penalties make ``pricing.exact`` False, as they would here."""

    def __init__(
        self, problem: Problem, pricing: Pricing | None, *, heuristic: bool, count_rows: bool, seed: int
    ) -> None:
        self.pricing = pricing
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="roster-pricing")
        self.proc.start()
        child.close()
        # the problem goes through the pipe, from a thread, not as the process's argument: spawn
        # writes the argument into a pipe whose reading end this process holds until the write is
        # done, so a child dying while it starts (its main module failing when run again, as a
        # script without a main guard does) left a problem larger than the pipe's buffer (Instance13
        # pickles to 96 KB) blocked for ever; a socket's send ends when the other end is gone
        threading.Thread(
            target=self._send_setup,
            args=((problem, heuristic, count_rows, seed),),
            daemon=True,
            name="roster-pricing-setup",
        ).start()
        self.ready = False
        self.alive = True
        self.started = time.monotonic()

    def _send_setup(self, setup: tuple[Problem, bool, bool, int]) -> None:
        with contextlib.suppress(OSError, ValueError):  # the helper is gone: ``submit`` finds out
            self.conn.send(setup)

    def submit(self, pi: np.ndarray, items: list[tuple[int, dict[int, int] | None]], escape: bool) -> bool:
        """Send a round; False when the helper is not ready yet (spawned: a second or two of
        imports, the caller prices this round alone) or gone (then ``alive`` is False)."""
        return self._send((pi, items, escape))

    def submit_rows(self, items: list[tuple[int, np.ndarray]], bonus: float) -> bool:
        """Send people and their cell costs (d × T) for the sweeps' rows (``search._Run._row_priced``
        with the weekend ``bonus``); ``collect`` returns them. False as for ``submit``."""
        return self._send(("rows", items, bonus))

    def _send(self, msg: tuple[object, ...]) -> bool:
        if not self.alive:
            return False
        if not self.ready:
            try:
                if not self.conn.poll():
                    if time.monotonic() > self.started + START_TIMEOUT:
                        self.close()
                    return False
                self.ready = self.conn.recv() == "ready"
            except (EOFError, OSError):
                self.ready = False
            if not self.ready:
                self.close()
                return False
        try:
            self.conn.send(msg)
        except (OSError, ValueError):
            self.close()
            return False
        return True

    def collect(self) -> list[tuple[int, list[int] | None]] | None:
        try:
            if not self.conn.poll(ANSWER_TIMEOUT):  # hung: given up like a dead one
                raise TimeoutError
            rows, exact = self.conn.recv()
        except (EOFError, OSError):
            self.close()
            return None
        if not exact and self.pricing is not None:
            self.pricing.exact = False
        return rows

    def close(self) -> None:
        self.alive = False
        if self.ready:  # it reads the None and ends; still starting, it is ended here (a send
            # could wait behind the problem's, unread)
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(None)
        self.conn.close()
        if self.ready:
            self.proc.join(timeout=2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


def _serve(conn: Connection) -> None:
    """The helper's loop: the problem first, then the same pricing as the caller's
    (``search._Run.pricing``), rows for the people of each round it is sent (or the sweeps' rows
    under the costs it is sent), until it is sent None or its caller is gone."""
    from . import colgen, search  # the child's own imports (a cycle at module level)

    try:
        problem, heuristic, count_rows, seed = conn.recv()
    except (EOFError, OSError):
        return
    run = search._Run(problem, float("inf"), 1, seed, None, False)
    run.count_rows = count_rows
    pricing = run.pricing()
    if heuristic:
        pricing.heuristic()
    escape = pricing.escape()
    req, _ = colgen.request_costs(run.c)
    try:
        conn.send("ready")
        while (msg := conn.recv()) is not None:
            if isinstance(msg[0], str):  # ("rows", costs, bonus); a round starts with its duals
                _, costs, run.bonus = msg
                conn.send(([(s, run._row_priced(s, cost, None)) for s, cost in costs], True))
                continue
            pi, items, escaping = msg
            price = escape if escaping and escape is not None else pricing
            price.exact = True
            rows = [(s, price(s, req[s] - pi, fix)) for s, fix in items]
            conn.send((rows, price.exact))
    except (EOFError, OSError):  # the caller is gone (or was done before this process started)
        return
