"""Reader and writer of the Curtois & Qu shift scheduling benchmark format (see the data README).

``read_instance(text)`` returns a ``Problem`` with the base rules only (product rules off);
``write_solution(problem, assignment)`` returns the solution text: one line per employee in the
instance's staff order, the employee id then one field per day (shift id, empty = day off).
"""

from __future__ import annotations

from .problem import Cover, Problem, Request, Shift, Staff


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    cur = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("SECTION_"):
            cur = line
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return out


def read_instance(text: str) -> Problem:
    sec = _sections(text)
    horizon = int(sec["SECTION_HORIZON"][0])
    shifts = []
    forbidden: dict[str, set[str]] = {}
    for line in sec["SECTION_SHIFTS"]:
        parts = line.split(",")
        sid, minutes = parts[0].strip(), int(parts[1])
        shifts.append(Shift(id=sid, minutes=minutes))
        nxt = parts[2].strip() if len(parts) > 2 else ""
        forbidden[sid] = {x.strip() for x in nxt.split("|") if x.strip()}
    staff = []
    for line in sec["SECTION_STAFF"]:
        p = [x.strip() for x in line.split(",")]
        max_shifts = {}
        for item in p[1].split("|"):
            if "=" in item:
                k, v = item.split("=")
                max_shifts[k.strip()] = int(v)
        staff.append(
            Staff(
                id=p[0],
                max_shifts=max_shifts,
                max_minutes=int(p[2]),
                min_minutes=int(p[3]),
                max_consecutive=int(p[4]),
                min_consecutive=int(p[5]),
                min_consecutive_off=int(p[6]),
                max_weekends=int(p[7]),
            )
        )
    days_off: dict[str, set[int]] = {}
    for line in sec.get("SECTION_DAYS_OFF", []):
        p = [x.strip() for x in line.split(",")]
        days_off.setdefault(p[0], set()).update(int(x) for x in p[1:] if x)
    requests = []
    for name, on in (("SECTION_SHIFT_ON_REQUESTS", True), ("SECTION_SHIFT_OFF_REQUESTS", False)):
        for line in sec.get(name, []):
            p = [x.strip() for x in line.split(",")]
            requests.append(Request(staff=p[0], day=int(p[1]), shift=p[2], on=on, weight=int(p[3])))
    cover = []
    for line in sec.get("SECTION_COVER", []):
        p = [x.strip() for x in line.split(",")]
        cover.append(
            Cover(
                day=int(p[0]),
                shift=p[1],
                requirement=int(p[2]),
                weight_under=int(p[3]),
                weight_over=int(p[4]),
            )
        )
    return Problem(
        horizon=horizon,
        shifts=shifts,
        staff=staff,
        start_weekday=0,
        forbidden_follow=forbidden,
        days_off=days_off,
        requests=requests,
        cover=cover,
    )


def write_solution(problem: Problem, assignment: dict[str, list[str | None]]) -> str:
    lines = []
    for st in problem.staff:
        row = assignment.get(st.id, [None] * problem.horizon)
        lines.append(",".join([st.id] + [x or "" for x in row]))
    return "\n".join(lines) + "\n"


def read_solution(problem: Problem, text: str) -> dict[str, list[str | None]]:
    out: dict[str, list[str | None]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        p = line.split(",")
        out[p[0]] = [x.strip() or None for x in p[1 : problem.horizon + 1]]
    return out
