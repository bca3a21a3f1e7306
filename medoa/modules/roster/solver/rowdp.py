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


def row_by_dp(
    c: Compiled, s: int, cost: np.ndarray, weekend_penalty: float = 0.0, blocked: set[int] | None = None
) -> list[int] | None:
    """The row of person ``s`` (shift index or -1 per day) minimising ``cost[d, t]`` (d × T).

    ``blocked`` days are kept off (the weekends left out by ``best_weekends``).
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
        if t < 0:
            allowed[d, :] = False
            forced_off[d] = True
        else:
            allowed[d, :] = False
            allowed[d, t] = True
            forced_t[d] = t
    lengths = sorted({c.length[t] for t in range(T)})
    g = reduce(math.gcd, lengths)
    units = [L // g for L in lengths]
    lo_m = math.ceil(st.min_minutes / g)
    hi_m = min(st.max_minutes // g, H * max(units))
    if lo_m > hi_m:
        return None
    M = hi_m + 1
    # cost of working day d with length index li: the cheapest allowed type of that length
    big = 1e12
    cl = np.full((H, len(lengths)), big)
    best_t = np.full((H, len(lengths)), -1)
    wk = np.array([p.is_weekend(d) for d in range(H)])
    for li, L in enumerate(lengths):
        ts = [t for t in range(T) if c.length[t] == L]
        sub = np.where(allowed[:, ts], cost[:, ts], big)
        j = np.argmin(sub, axis=1)
        cl[:, li] = sub[np.arange(H), j]
        best_t[:, li] = np.array(ts)[j]
    cl = cl + np.where(wk, weekend_penalty, 0.0)[:, None]
    can_work = cl < big / 2
    maxc = st.max_consecutive if st.max_consecutive < H else None
    minc = max(1, st.min_consecutive)
    minoff = max(1, st.min_consecutive_off)
    K = maxc if maxc is not None else minc
    # states: ("W", k, exempt) k=1..K ; ("O", k, exempt) k=1..minoff (minoff absorbs)
    states: list[tuple[str, int, bool]] = []
    for e in (False, True):
        states += [("W", k, e) for k in range(1, K + 1)]
        states += [("O", k, e) for k in range(1, minoff + 1)]
    idx = {x: i for i, x in enumerate(states)}
    n = len(states)
    V = np.full((n, M), INF)
    # day 0
    back = np.zeros((H, n, M), dtype=np.int32)  # encoded predecessor: prev_state * 64 + li + 1 (0 = off)

    def shift_add(arr: np.ndarray, u: int, add: np.ndarray | float) -> np.ndarray:
        out = np.full(M, INF)
        if u < M:
            out[u:] = arr[: M - u] + add
        return out

    start = np.full(M, INF)
    start[0] = 0.0
    # day 0: off -> ("O",1,True); work length li -> ("W",1,True)
    V[idx[("O", 1, True)]] = start
    for li, u in enumerate(units):
        if can_work[0, li] and not forced_off[0]:
            cand = shift_add(start, u, cl[0, li])
            j = idx[("W", 1, True)]
            better = cand < V[j]
            V[j] = np.where(better, cand, V[j])
            back[0, j] = np.where(better, -(li + 1), back[0, j])
    if forced_t[0] >= 0:
        V[idx[("O", 1, True)]] = INF
    for d in range(1, H):
        NV = np.full((n, M), INF)
        NB = np.zeros((n, M), dtype=np.int32)

        def relax(j: int, cand: np.ndarray, code: int, NV: np.ndarray = NV, NB: np.ndarray = NB) -> None:
            better = cand < NV[j]
            NV[j] = np.where(better, cand, NV[j])
            NB[j] = np.where(better, code, NB[j])

        for i, (kind, k, e) in enumerate(states):
            row = V[i]
            if not np.isfinite(row).any() or row.min() >= INF / 2:
                continue
            if kind == "W":
                # off next
                if (k >= minc or e) and forced_t[d] < 0:
                    relax(idx[("O", 1, False)], row, i * 64)
                # continue working
                if maxc is None or k < maxc:
                    nk = min(k + 1, K)
                    for li, u in enumerate(units):
                        if can_work[d, li] and not forced_off[d]:
                            relax(idx[("W", nk, e)], shift_add(row, u, cl[d, li]), i * 64 + li + 1)
            else:
                if forced_t[d] < 0:
                    relax(idx[("O", min(k + 1, minoff), e)], row, i * 64)
                if k >= minoff or e:
                    for li, u in enumerate(units):
                        if can_work[d, li] and not forced_off[d]:
                            relax(idx[("W", 1, False)], shift_add(row, u, cl[d, li]), i * 64 + li + 1)
        V = NV
        back[d] = NB
    # final: any state, minutes within [lo_m, hi_m]
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
    # backtrack lengths
    lens = [-1] * H
    i, m = bi, bm
    for d in range(H - 1, -1, -1):
        code = int(back[d, i, m])
        if d == 0:
            if code < 0:
                lens[0] = -code - 1
            break
        pi, li = divmod(code, 64)
        if li > 0:
            lens[d] = li - 1
            m -= units[li - 1]
        i = pi
    return _types(c, s, lens, best_t, cost, allowed)


def _types(
    c: Compiled, s: int, lens: list[int], best_t: np.ndarray, cost: np.ndarray, allowed: np.ndarray
) -> list[int]:
    """Shift types for the worked days: cheapest of the chosen length, keeping successions and
    per-type maximums where possible (one day of look-ahead)."""
    p = c.p
    st = p.staff[s]
    H, T = c.H, c.T
    lengths = sorted({c.length[t] for t in range(T)})
    quota = {t: st.max_shifts.get(sh.id, H) for t, sh in enumerate(p.shifts)}
    forbid = c.forbid.get(1, {})
    row = [-1] * H
    for d in range(H):
        li = lens[d]
        if li < 0:
            continue
        L = lengths[li]
        prev = row[d - 1] if d > 0 else -1
        cands = [t for t in range(T) if c.length[t] == L and allowed[d, t] and quota[t] > 0]
        if prev >= 0:
            ok = [t for t in cands if t not in forbid.get(prev, ())]
            cands = ok or cands
        if d + 1 < H and lens[d + 1] >= 0:
            L2 = lengths[lens[d + 1]]
            nxt = [t2 for t2 in range(T) if c.length[t2] == L2 and allowed[d + 1, t2] and quota[t2] > 0]
            ok = [t for t in cands if any(t2 not in forbid.get(t, ()) for t2 in nxt)]
            cands = ok or cands
        if not cands:
            cands = [int(best_t[d, li])]
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
