"""A person's row by dynamic programming, for column generation and for the construction.

``RowPricer`` builds one person's DP once and prices it under many cost matrices: states per day are
the current stretch (working k days with the succession class of the last shift / off k days, and
whether the stretch started on day 0, which exempts it from the minimum), optionally the weekends
worked so far, × the minutes worked so far (in units of the gcd of the shift lengths, with the
count of one per-type maximum folded in). The transitions are static per kind of day; the forward
pass and the path back are compiled loops (numba: 5–9× faster than the vectorised NumPy form they
replaced, which spent its time on temporaries and Python between the reductions). The shift
*type* of each worked day is chosen afterwards among the types of the chosen class and length
(``_types``), keeping per-type maximums where it can.

CP-SAT on a single person's year (364 days, a tight window of total minutes, stretch minimums)
often finds no row in seconds; this DP finds the cheapest one in a few hundredths of a second.
"""

from __future__ import annotations

import math
from functools import reduce
from typing import Any

import numpy as np
from numba import njit

from .model import Compiled

INF = np.float64(1e18)


@njit(cache=True, nogil=True)
def _forward(
    Vs: np.ndarray,
    wlo: np.ndarray,
    whi: np.ndarray,
    graph: tuple[np.ndarray, ...],
    at_limit: np.ndarray,
    co: np.ndarray,
    can: np.ndarray,
    off_ok: np.ndarray,
    full: np.ndarray,
) -> None:  # pragma: no cover - compiled; the DP tests check its rows against CP-SAT
    """The DP's forward pass, compiled: ``Vs[d, i, m - wlo[d]]`` from day 0's values on.
    ``graph`` is ``RowPricer.graph``: edges ``e_start[k] … e_start[k + 1]`` belong to day kind
    ``k``; option −1 is a day off; an edge of ``e_full`` (a weekend's second day worked after its
    first) adds ``full[d]``. A state with no finite value on a day sends nothing (this also
    skips the first stretch's states once it has ended and weekend counts the days so far cannot
    have reached)."""
    kind, e_start, e_src, e_dst, e_opt, units, counted, e_full = graph
    H, n, _ = Vs.shape
    top = np.float32(INF / 2)
    zero = np.float32(0.0)
    alive = np.zeros(n, np.bool_)
    for d in range(1, H):
        pa, pb = wlo[d - 1], whi[d - 1]
        a, b = wlo[d], whi[d]
        if a >= b or pa >= pb:
            continue
        for i in range(n):
            alive[i] = False
            for x in range(pb - pa):
                if Vs[d - 1, i, x] < top:
                    alive[i] = True
                    break
        k = kind[d]
        for e in range(e_start[k], e_start[k + 1]):
            i = e_src[e]
            if not alive[i]:
                continue
            oi = e_opt[e]
            u = 0
            c = zero
            cnt = False
            if oi < 0:
                if not off_ok[d]:
                    continue
            else:
                if not can[d, oi]:
                    continue
                u = units[oi]
                c = co[d, oi]
                cnt = counted[oi]
            if e_full[e]:
                c = c + full[d]
            j = e_dst[e]
            lo = max(a, pa + u)
            hi = min(b, pb + u)
            for m in range(lo, hi):
                if cnt and at_limit[m - u]:
                    continue
                v = Vs[d - 1, i, m - u - pa] + c
                if v < Vs[d, j, m - a]:
                    Vs[d, j, m - a] = v


@njit(cache=True, nogil=True)
def _at(Vs: np.ndarray, wlo: np.ndarray, whi: np.ndarray, d: int, i: int, m: int) -> Any:
    x = m - wlo[d]
    if 0 <= x < whi[d] - wlo[d]:
        return Vs[d, i, x]
    return np.float32(INF)


@njit(cache=True, nogil=True)
def _backward(
    Vs: np.ndarray,
    wlo: np.ndarray,
    whi: np.ndarray,
    graph: tuple[np.ndarray, ...],
    Q: int,
    co: np.ndarray,
    can: np.ndarray,
    off_ok: np.ndarray,
    i: int,
    m: int,
    opts: np.ndarray,
    full: np.ndarray,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """The path back from state ``i`` at minute ``m`` after the last day: ``opts[d]`` the option
    worked on day ``d`` ≥ 1 (untouched when off); returns the state and minute after day 0, or
    (−1, −1) when no predecessor matches (not expected: the values are the same sums)."""
    kind, e_start, e_src, e_dst, e_opt, units, counted, e_full = graph
    H = Vs.shape[0]
    top = np.float32(INF / 2)
    for d in range(H - 1, 0, -1):
        v = _at(Vs, wlo, whi, d, i, m)
        k = kind[d]
        found = False
        for e in range(e_start[k], e_start[k + 1]):
            if e_dst[e] != i:
                continue
            pi = e_src[e]
            oi = e_opt[e]
            if oi < 0:
                if off_ok[d] and _at(Vs, wlo, whi, d - 1, pi, m) == v:
                    i = pi
                    found = True
                    break
            else:
                pm = m - units[oi]
                if (counted[oi] and m % Q == 0) or not can[d, oi] or pm < 0:
                    continue
                pv = _at(Vs, wlo, whi, d - 1, pi, pm)
                h = full[d] if e_full[e] else np.float32(0.0)
                if pv < top and pv + (co[d, oi] + h) == v:
                    opts[d] = oi
                    i = pi
                    m = pm
                    found = True
                    break
        if not found:
            return -1, -1
    return i, m


def shift_classes(c: Compiled) -> list[int]:
    """Class of each shift type: types with the same forbidden successors and predecessors."""
    forbid = c.forbid.get(1, {})
    keys: dict[tuple[frozenset[int], frozenset[int]], int] = {}
    out = []
    for t in range(c.T):
        after = frozenset(forbid.get(t, ()))
        before = frozenset(a for a, bs in forbid.items() if t in bs)
        out.append(keys.setdefault((after, before), len(keys)))
    return out


def allowed_cells(
    c: Compiled, s: int, blocked: set[int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Person ``s``'s cells: ``allowed[d, t]`` (not a day off, a ``blocked`` day or a shift type
    the person may not work; a fixed cell allows its shift only), and per day whether it is fixed
    off (``forced_off``) or to a shift (``forced_t``, -1 when not)."""
    p = c.p
    st = p.staff[s]
    H, T = c.H, c.T
    allowed = np.ones((H, T), dtype=bool)
    for t, sh in enumerate(p.shifts):
        if st.max_shifts.get(sh.id, H) <= 0:
            allowed[:, t] = False
    for d in c.days_off[s]:
        allowed[d, :] = False
    for d in blocked or ():
        allowed[d, :] = False
    forced_off = np.zeros(H, dtype=bool)
    forced_t = np.full(H, -1)
    hold(allowed, forced_off, forced_t, c.fixed[s], locks=True)
    return allowed, forced_off, forced_t


def hold(
    allowed: np.ndarray, forced_off: np.ndarray, forced_t: np.ndarray, cells: dict[int, int], locks: bool
) -> None:
    """Hold ``cells`` (day → shift index, -1 off) in the arrays of ``allowed_cells``, in place.
    ``locks``: the cells are locked by the head nurse and allowed whatever else holds; otherwise
    (a dive's fixings) a shift the arrays do not allow on that day leaves the day impossible."""
    for d, t in cells.items():
        keep = t >= 0 and (locks or (bool(allowed[d, t]) and not forced_off[d]))
        allowed[d, :] = False
        if t < 0:
            forced_off[d] = True
        else:
            allowed[d, t] = keep
            forced_t[d] = t


def _types(
    c: Compiled,
    s: int,
    opts: list[int],
    options: list[tuple[int, int]],
    cls: list[int],
    best_t: np.ndarray,
    cost: np.ndarray,
    allowed: np.ndarray,
    opt_types: list[list[int]] | None = None,
) -> list[int]:
    """Shift types for the worked days: cheapest of the chosen class and length, keeping
    successions and per-type maximums where possible (one day of look-ahead)."""
    p = c.p
    st = p.staff[s]
    H, T = c.H, c.T
    quota = {t: st.max_shifts.get(sh.id, H) for t, sh in enumerate(p.shifts)}
    forbid = c.forbid.get(1, {})

    def members(d: int) -> list[int]:
        if opt_types is not None:
            return [t for t in opt_types[opts[d]] if allowed[d, t] and quota[t] > 0]
        k, L = options[opts[d]]
        return [t for t in range(T) if cls[t] == k and c.length[t] == L and allowed[d, t] and quota[t] > 0]

    row = [-1] * H
    for d in range(H):
        if opts[d] < 0:
            continue
        prev = row[d - 1] if d > 0 else -1
        cands = members(d)
        if prev >= 0:
            ok = [t for t in cands if t not in forbid.get(prev, ())]
            cands = ok or cands
        if d + 1 < H and opts[d + 1] >= 0:
            nxt = members(d + 1)
            ok = [t for t in cands if any(t2 not in forbid.get(t, ()) for t2 in nxt)]
            cands = ok or cands
        if not cands:
            cands = [int(best_t[d, opts[d]])]
        t = min(cands, key=lambda t: cost[d, t])
        row[d] = t
        quota[t] -= 1
    # repair forbidden successions left: another type of the same length on one of the two days
    for d in range(H - 1):
        a, b = row[d], row[d + 1]
        if a < 0 or b < 0 or b not in forbid.get(a, ()):
            continue
        for day in (d + 1, d):
            cur_t = row[day]
            before = row[day - 1] if day > 0 else -1
            after = row[day + 1] if day + 1 < H else -1
            alts = [
                t
                for t in range(T)
                if t != cur_t
                and c.length[t] == c.length[cur_t]
                and allowed[day, t]
                and quota[t] > 0
                and (before < 0 or t not in forbid.get(before, ()))
                and (after < 0 or after not in forbid.get(t, ()))
            ]
            if alts:
                t = min(alts, key=lambda t: cost[day, t])
                quota[cur_t] += 1
                quota[t] -= 1
                row[day] = t
                break
    return row


def best_weekends(c: Compiled, s: int, cost: np.ndarray) -> set[int]:
    """Days of the weekends person ``s`` should not work: all but their ``max_weekends`` most
    valuable weekends (by the most negative cost of working them)."""
    st = c.p.staff[s]
    if st.max_weekends >= len(c.weekend_days):
        return set()
    value = []
    for w, days in c.weekend_days.items():
        gain = sum(min(0.0, float(cost[d].min())) for d in days if d not in c.days_off[s])
        value.append((gain, w))
    value.sort()
    keep = {w for _, w in value[: st.max_weekends]}
    return {d for w, days in c.weekend_days.items() if w not in keep for d in days if d not in c.fixed[s]}


class RowPricer:
    """The row DP of one person, built once and priced many times.

    Exact (column generation): it keeps the weekend maximum (the count of weekends worked is part
    of the state: a Saturday worked counts, a Sunday worked counts unless the Saturday before it
    was worked) and tracks the succession class of the last shift, so every row it returns keeps
    all the person's rules except per-type maximums above zero: the tightest of those (of those up
    to ``count_limit`` when it is given) is counted exactly (the minute axis holds minutes ×
    (limit + 1) + count), any other is the caller's, by penalties. With ``weekends=False`` the
    weekend maximum is the caller's too, and with a ``corridor`` only minutes near the person's
    pace are kept (the construction and the sweeps).
    The transitions are static per kind of day (weekday, first and second day of a weekend), one
    flat edge list per kind, run by the compiled ``_forward`` / ``_backward``. ``size`` is the number
    of cells (days × states × minute units) it needs; the caller uses the exact form only when that
    is small.
    """

    def __init__(
        self,
        c: Compiled,
        s: int,
        count: bool = True,
        max_size: float = float("inf"),
        weekends: bool = True,
        corridor: float | None = None,
        count_limit: int | None = None,
    ) -> None:
        p = c.p
        st = p.staff[s]
        H, T = c.H, c.T
        self.c, self.s = c, s
        allowed, forced_off, forced_t = allowed_cells(c, s)
        self.allowed, self.forced_off, self.forced_t = allowed, forced_off, forced_t
        lengths = sorted({c.length[t] for t in range(T)})
        g = reduce(math.gcd, lengths)
        self.lo_m = math.ceil(st.min_minutes / g)
        self.hi_m = min(st.max_minutes // g, H * max(lengths) // g)
        # the tightest per-type maximum (0 < limit < days it could be worked) is counted exactly
        limited = [
            (st.max_shifts[sh.id], t)
            for t, sh in enumerate(p.shifts)
            if count
            and c.enabled("max_shifts")
            and 0 < st.max_shifts.get(sh.id, H) < int(allowed[:, t].sum())
            and (count_limit is None or st.max_shifts[sh.id] <= count_limit)
        ]
        self.counted = min(limited)[1] if limited else -1
        self.Q = min(limited)[0] + 1 if limited else 1  # count values 0 .. limit
        M = max(1, (self.hi_m + 1) * self.Q)
        self.M = M
        cls = shift_classes(c)
        self.cls = cls
        C = max(cls) + 1
        forbid = c.forbid.get(1, {})
        follow = np.ones((C, C), dtype=bool)
        for t1 in range(T):
            for t2 in forbid.get(t1, ()):
                follow[cls[t1], cls[t2]] = False
        opts3 = sorted({(cls[t], c.length[t], t == self.counted) for t in range(T)})
        self.options = [(k, L) for k, L, _ in opts3]
        options = self.options
        self.is_counted = [x for _, _, x in opts3]
        self.units = [(L // g) * self.Q + int(x) for _, L, x in opts3]
        self.opt_types = [
            [t for t in range(T) if cls[t] == k and c.length[t] == L and (t == self.counted) == x]
            for k, L, x in opts3
        ]
        # positions of the minute axis whose count is at the limit: no counted shift from there
        self.at_limit = (np.arange(M) % self.Q) == self.Q - 1
        ocls = [k for k, _ in options]
        maxc = st.max_consecutive if st.max_consecutive < H else None
        minc = max(1, st.min_consecutive)
        minoff = max(1, st.min_consecutive_off)
        K = maxc if maxc is not None else minc
        n_weekends = len(c.weekend_days)
        self.track_w = weekends and c.enabled("max_weekends") and st.max_weekends < n_weekends
        Wm = max(0, st.max_weekends) if self.track_w else 0
        states: list[tuple[str, int, int, bool, int]] = []
        for w in range(Wm + 1):
            for e in (False, True):
                states += [("W", k, q, e, w) for k in range(1, K + 1) for q in range(C)]
                states += [("O", k, 0, e, w) for k in range(1, minoff + 1)]
        self.states = states
        idx = {x: i for i, x in enumerate(states)}
        self.n = n = len(states)
        self.band: tuple[np.ndarray, np.ndarray] | None = None
        if corridor is not None:
            # minutes paced over the days the person can work: at most ``corridor`` longest shifts
            # ahead of or behind the middle of their window (a heuristic: rows far off the pace
            # are lost; on a year it makes the DP several times smaller)
            avail = (allowed.any(axis=1) & ~forced_off).astype(float)
            cum = np.cumsum(avail) / max(1.0, float(avail.sum()))
            pace = 0.5 * (self.lo_m + self.hi_m) * cum
            width = corridor * max(lengths) // g
            self.band = (
                (np.floor(np.maximum(0.0, pace - width)) * self.Q).astype(np.int64),
                (np.ceil(pace + width) * self.Q + self.Q).astype(np.int64),
            )
            M_eff = min(M, int(2 * width + 2) * self.Q)
        else:
            M_eff = M
        self.size = H * n * M_eff
        if self.size > max_size:
            return  # too big to be used: the caller only reads ``size``
        # day kinds: 0 weekday, 1 weekend day whose previous day is not a weekend day of the same
        # weekend, 2 the second day of a weekend (also without the weekend count: the bonus for a
        # weekend worked on both days rides on its edges, see ``price``)
        kind = []
        for d in range(H):
            if not p.is_weekend(d):
                kind.append(0)
            elif d > 0 and p.is_weekend(d - 1) and p.weekend_index(d - 1) == p.weekend_index(d):
                kind.append(2)
            else:
                kind.append(1 if self.track_w else 0)
        self.kind = kind
        self.second = np.array([k == 2 for k in kind])
        # edges per day kind: (source, target, option), option −1 for a day off
        flat: list[list[tuple[int, int, int]]] = []
        tw = self.track_w
        for dk in range(3):
            off: list[tuple[int, int]] = []
            work: list[list[tuple[int, int]]] = [[] for _ in options]
            for i, (kd, k, q, e, w) in enumerate(states):
                if kd == "W":
                    if k >= minc or e:
                        off.append((i, idx[("O", 1, 0, False, w)]))
                    if maxc is None or k < maxc:
                        nk = min(k + 1, K)
                        nw = w + (1 if tw and dk == 1 else 0)
                        if nw <= Wm:
                            for oi in range(len(options)):
                                if follow[q, ocls[oi]]:
                                    work[oi].append((i, idx[("W", nk, ocls[oi], e, nw)]))
                else:
                    off.append((i, idx[("O", min(k + 1, minoff), 0, e, w)]))
                    if k >= minoff or e:
                        nw = w + (1 if tw and dk in (1, 2) else 0)
                        if nw <= Wm:
                            for oi in range(len(options)):
                                work[oi].append((i, idx[("W", 1, ocls[oi], False, nw)]))
            flat.append(
                [(i, j, -1) for i, j in off] + [(i, j, oi) for oi, es in enumerate(work) for i, j in es]
            )
        flat = [sorted(es) for es in flat]  # by source: a state's edges read the same values
        edges = np.array([e for es in flat for e in es], dtype=np.int64).reshape(-1, 3)
        e_src, e_dst, e_opt = (np.ascontiguousarray(edges[:, k]) for k in range(3))
        # the edges that work a weekend's second day after its first
        e_kind = np.repeat(np.arange(3), [len(es) for es in flat])
        e_full = (e_kind == 2) & (e_opt >= 0) & np.array([x[0] == "W" for x in states])[e_src]
        # what the compiled passes read: day kinds, edges, minute units and counted flag per option
        self.graph = (
            np.array(kind, dtype=np.int64),
            np.cumsum([0] + [len(es) for es in flat]).astype(np.int64),
            e_src,
            e_dst,
            e_opt,
            np.array(self.units, dtype=np.int64),
            np.array(self.is_counted, dtype=np.bool_),
            np.ascontiguousarray(e_full),
        )
        self._win: tuple[np.ndarray, np.ndarray] | None = None
        self.start: list[tuple[int, int]] = [(idx[("O", 1, 0, True, 0)], -1)]
        w0 = 1 if (self.track_w and p.is_weekend(0)) else 0
        if w0 <= Wm:
            self.start += [(idx[("W", 1, ocls[oi], True, w0)], oi) for oi in range(len(options))]

    def _windows(self) -> tuple[np.ndarray, np.ndarray]:
        """Per day, the part ``[lo, hi)`` of the minute axis that can hold a value: reachable by then,
        able to reach the minimum by the end and, with a corridor, near the pace."""
        if self._win is None:
            H, M, Q = self.c.H, self.M, self.Q
            umax = max(self.units)
            d = np.arange(H)
            lo = np.maximum(0, self.lo_m * Q - (H - 1 - d) * umax)
            hi = np.minimum(M, (d + 1) * umax + 1)
            if self.band is not None:
                lo = np.maximum(lo, self.band[0])
                hi = np.minimum(hi, self.band[1])
            hi = np.maximum(hi, lo)
            self._win = (lo.astype(np.int64), hi.astype(np.int64))
        return self._win

    def price(
        self, cost: np.ndarray, fix: dict[int, int] | None = None, full: float = 0.0
    ) -> list[int] | None:
        """The cheapest row under ``cost`` (d × T), or None when no row keeps the rules; ``fix``
        (day → shift index, -1 for off) holds those cells as well; ``full`` is added for each
        weekend worked on both its days (the sweeps' bonus, ``search.WEEKEND_FULL``).

        Only each day's window of the minute axis is stored (``_windows``): ``Vs[d, i, x]`` is the
        cheapest start of a row in state ``i`` at minute index ``lo[d] + x`` after day ``d``."""
        c = self.c
        H = c.H
        big = 1e12
        nopt = len(self.options)
        co = np.full((H, nopt), big)
        best_t = np.zeros((H, nopt), dtype=np.int64)
        Q = self.Q
        allowed, forced_off, forced_t = self.allowed, self.forced_off, self.forced_t
        if fix:
            allowed, forced_off, forced_t = allowed.copy(), forced_off.copy(), forced_t.copy()
            hold(allowed, forced_off, forced_t, fix, locks=False)
        for oi, ts in enumerate(self.opt_types):
            sub = np.where(allowed[:, ts], cost[:, ts], big)
            j = np.argmin(sub, axis=1)
            co[:, oi] = sub[np.arange(H), j]
            best_t[:, oi] = np.array(ts)[j]
        co[forced_off, :] = big
        can = co < big / 2
        co = co.astype(np.float32)  # half the memory traffic; the path is recovered with the same sums
        off_ok = forced_t < 0
        wlo, whi = self._windows()
        width = max(1, int((whi - wlo).max()))
        Vs = np.full((H, self.n, width), INF, dtype=np.float32)

        for j, oi in self.start:
            if oi < 0:
                if off_ok[0] and wlo[0] <= 0 < whi[0]:
                    Vs[0, j, -wlo[0]] = 0.0
            elif can[0, oi] and wlo[0] <= self.units[oi] < whi[0]:
                x = self.units[oi] - wlo[0]
                Vs[0, j, x] = min(Vs[0, j, x], co[0, oi])
        fulls = np.where(self.second, full, 0.0).astype(np.float32)
        _forward(Vs, wlo, whi, self.graph, self.at_limit, co, can, off_ok, fulls)
        ea, eb = max(int(wlo[H - 1]), self.lo_m * Q), min(int(whi[H - 1]), (self.hi_m + 1) * Q)
        if ea >= eb:
            return None
        last = Vs[H - 1][:, ea - int(wlo[H - 1]) : eb - int(wlo[H - 1])]
        flat = int(np.argmin(last))
        i, m = divmod(flat, last.shape[1])
        m += ea
        if _at(Vs, wlo, whi, H - 1, i, m) >= INF / 2:
            return None
        path = np.full(H, -1, dtype=np.int64)
        i, m = _backward(Vs, wlo, whi, self.graph, Q, co, can, off_ok, i, m, path, fulls)
        if i < 0:
            return None
        opts = [int(x) for x in path]
        if self.states[i][0] == "W":
            for j, oi in self.start:
                if j == i and oi >= 0 and self.units[oi] == m and co[0, oi] == _at(Vs, wlo, whi, 0, i, m):
                    opts[0] = oi
                    break
        return _types(c, self.s, opts, self.options, self.cls, best_t, cost, allowed, self.opt_types)
