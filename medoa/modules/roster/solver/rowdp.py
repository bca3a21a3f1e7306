"""A person's row by dynamic programming: the construction heuristic for long horizons.

CP-SAT on a single person's year (364 days, a tight window of total minutes, stretch minimums)
often finds no row in seconds; this DP does it in milliseconds. States per day: the current run
(working k days / off k days, and whether the run started on day 0, which exempts it from the
minimum) × the minutes worked so far (in units of the gcd of the shift lengths, numpy arrays).
Each working day picks a shift *length*; the cheapest shift type of that length on that day is
chosen afterwards, left to right, keeping forbidden successions and per-type maximums. Weekends
are kept under the maximum by a penalty that grows until they fit. Costs come from the caller
(marginal cover and requests); the result is checked by the independent checker and, when a rule
still breaks (successions or quotas the greedy type choice could not keep, product rules), the
caller repairs it with CP-SAT.
"""

from __future__ import annotations

import math
from functools import reduce

import numpy as np

from .model import Compiled

INF = np.float64(1e18)


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


def row_by_dp(
    c: Compiled,
    s: int,
    cost: np.ndarray,
    weekend_penalty: float = 0.0,
    blocked: set[int] | None = None,
    by_class: bool = False,
) -> list[int] | None:
    """The row of person ``s`` (shift index or -1 per day) minimising ``cost[d, t]`` (d × T).

    ``blocked`` days are kept off (the weekends left out by ``best_weekends``). With ``by_class``
    the state also holds the class of the last shift, so forbidden successions are kept exactly
    (slower: states × classes).
    Returns None when the DP finds no row keeping the minutes window and stretches.
    """
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
    for d, t in c.fixed[s].items():
        allowed[d, :] = False
        if t < 0:
            forced_off[d] = True
        else:
            allowed[d, t] = True
            forced_t[d] = t
    lengths = sorted({c.length[t] for t in range(T)})
    g = reduce(math.gcd, lengths)
    lo_m = math.ceil(st.min_minutes / g)
    hi_m = min(st.max_minutes // g, H * max(lengths) // g)
    if lo_m > hi_m:
        return None
    M = hi_m + 1
    cls = shift_classes(c) if by_class else [0] * T
    C = max(cls) + 1
    forbid = c.forbid.get(1, {})
    # class a may be followed by class b unless a's types forbid b's types
    follow = np.ones((C, C), dtype=bool)
    if by_class:
        for t1 in range(T):
            for t2 in forbid.get(t1, ()):
                follow[cls[t1], cls[t2]] = False
    # options: (class, length); cost of working day d with option o = cheapest allowed type in it
    options = sorted({(cls[t], c.length[t]) for t in range(T)})
    units = [L // g for _, L in options]
    ocls = [k for k, _ in options]
    big = 1e12
    co = np.full((H, len(options)), big)
    best_t = np.full((H, len(options)), -1)
    wk = np.array([p.is_weekend(d) for d in range(H)])
    for oi, (k, L) in enumerate(options):
        ts = [t for t in range(T) if cls[t] == k and c.length[t] == L]
        sub = np.where(allowed[:, ts], cost[:, ts], big)
        j = np.argmin(sub, axis=1)
        co[:, oi] = sub[np.arange(H), j] + np.where(wk, weekend_penalty, 0.0)
        best_t[:, oi] = np.array(ts)[j]
    can = (co < big / 2) & ~forced_off[:, None]
    maxc = st.max_consecutive if st.max_consecutive < H else None
    minc = max(1, st.min_consecutive)
    minoff = max(1, st.min_consecutive_off)
    K = maxc if maxc is not None else minc
    # states: ("W", k, class, exempt) ; ("O", k, 0, exempt) with k capped (minoff absorbs)
    states: list[tuple[str, int, int, bool]] = []
    for e in (False, True):
        states += [("W", k, q, e) for k in range(1, K + 1) for q in range(C)]
        states += [("O", k, 0, e) for k in range(1, minoff + 1)]
    idx = {x: i for i, x in enumerate(states)}
    n = len(states)
    V = np.full((n, M), INF)
    back = np.zeros((H, n, M), dtype=np.int32)  # predecessor * 256 + option + 1 (0 = off)

    def shifted(arr: np.ndarray, u: int, add: float) -> np.ndarray:
        out = np.full(M, INF)
        if u < M:
            out[u:] = arr[: M - u] + add
        return out

    def relax(NV: np.ndarray, NB: np.ndarray, j: int, cand: np.ndarray, code: int) -> None:
        better = cand < NV[j]
        if better.any():
            NV[j] = np.where(better, cand, NV[j])
            NB[j] = np.where(better, code, NB[j])

    start = np.full(M, INF)
    start[0] = 0.0
    NB0 = back[0]
    if forced_t[0] < 0:
        V[idx[("O", 1, 0, True)]] = start
    for oi, u in enumerate(units):
        if can[0, oi]:
            relax(V, NB0, idx[("W", 1, ocls[oi], True)], shifted(start, u, co[0, oi]), oi + 1)
    for d in range(1, H):
        NV = np.full((n, M), INF)
        NB = back[d]
        for i, (kind, k, q, e) in enumerate(states):
            row = V[i]
            if row.min() >= INF / 2:
                continue
            if kind == "W":
                if (k >= minc or e) and forced_t[d] < 0:
                    relax(NV, NB, idx[("O", 1, 0, False)], row, i * 256)
                if maxc is None or k < maxc:
                    nk = min(k + 1, K)
                    for oi, u in enumerate(units):
                        if can[d, oi] and follow[q, ocls[oi]]:
                            relax(
                                NV,
                                NB,
                                idx[("W", nk, ocls[oi], e)],
                                shifted(row, u, co[d, oi]),
                                i * 256 + oi + 1,
                            )
            else:
                if forced_t[d] < 0:
                    relax(NV, NB, idx[("O", min(k + 1, minoff), 0, e)], row, i * 256)
                if k >= minoff or e:
                    for oi, u in enumerate(units):
                        if can[d, oi]:
                            relax(
                                NV,
                                NB,
                                idx[("W", 1, ocls[oi], False)],
                                shifted(row, u, co[d, oi]),
                                i * 256 + oi + 1,
                            )
        V = NV
    best = INF
    bi = bm = -1
    for i in range(n):
        seg = V[i, lo_m : hi_m + 1]
        if seg.size and seg.min() < best:
            best = seg.min()
            bi = i
            bm = lo_m + int(np.argmin(seg))
    if bi < 0 or best >= INF / 2:
        return None
    opts = [-1] * H
    i, m = bi, bm
    for d in range(H - 1, -1, -1):
        code = int(back[d, i, m])
        pi, oi = divmod(code, 256)
        if oi > 0:
            opts[d] = oi - 1
            m -= units[oi - 1]
        if d == 0:
            break
        i = pi
    return _types(c, s, opts, options, cls, best_t, cost, allowed)


def _types(
    c: Compiled,
    s: int,
    opts: list[int],
    options: list[tuple[int, int]],
    cls: list[int],
    best_t: np.ndarray,
    cost: np.ndarray,
    allowed: np.ndarray,
) -> list[int]:
    """Shift types for the worked days: cheapest of the chosen class and length, keeping
    successions and per-type maximums where possible (one day of look-ahead)."""
    p = c.p
    st = p.staff[s]
    H, T = c.H, c.T
    quota = {t: st.max_shifts.get(sh.id, H) for t, sh in enumerate(p.shifts)}
    forbid = c.forbid.get(1, {})

    def members(d: int) -> list[int]:
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
