"""Small builders for BPMN test documents (Camunda namespace, no diagram)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

DATA = Path(__file__).parent / "data"

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
    ' xmlns:camunda="http://camunda.org/schema/1.0/bpmn"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://medoa/test">\n'
)


def doc(*parts: str) -> str:
    return HEADER + "\n".join(parts) + "\n</bpmn:definitions>\n"


def proc(pid: str, body: str, *, name: str = "") -> str:
    label = f' name="{name}"' if name else ""
    return f'<bpmn:process id="{pid}"{label} isExecutable="true">\n{body}\n</bpmn:process>'


def flow(fid: str, source: str, target: str, condition: str | None = None) -> str:
    cond = (
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>'
        if condition
        else ""
    )
    return (
        f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">{cond}</bpmn:sequenceFlow>'
    )


def chain(*ids: str) -> str:
    return "\n".join(flow(f"f_{a}_{b}", a, b) for a, b in pairwise(ids))


def user(tid: str, assignee: str = "u1", extra: str = "", body: str = "") -> str:
    attrs = f'id="{tid}" name="{tid.title()}" camunda:assignee="{assignee}" {extra}'
    return f"<bpmn:userTask {attrs}>{body}</bpmn:userTask>"


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")
