"""The printable approval sheet (审批单) of a request, as PDF: the hospital's name, the request's
number, type, initiator and department, the form's data (labels from the form version the request
was filled in for; select values as their labels, people, departments and files by name; a dynamic
list as a table), and the whole approval chain — step, person, decision, comment, time — with the
steps still open.

Chinese is set in reportlab's built-in CID font ``STSong-Light`` (Adobe's Asian font pack names
it; PDF viewers supply the glyphs), so no font file ships with MedOA. The caller checks that the
person may see the request (``views_sheet``).
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from medoa.core.org.models import Department, Staff
from medoa.core.org.selectors import department_root
from medoa.engines.forms.models import FormAttachment

from .catalog import request_types
from .models import ApprovalRequest
from .selectors import ChainStep, request_chain
from .types.contract import contract_revisions

FONT = "STSong-Light"
LAYOUT_TYPES = frozenset(
    {"text", "html", "image", "spacer", "separator", "iframe", "table", "button", "documentPreview"}
)
OUTCOMES = {
    "approved": gettext_lazy("Approved"),
    "rejected": gettext_lazy("Rejected"),
    "completed": gettext_lazy("Completed"),
}


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def _styles() -> dict[str, ParagraphStyle]:
    font = _font()
    base = ParagraphStyle("base", fontName=font, fontSize=9.5, leading=13, wordWrap="CJK")
    return {
        "base": base,
        "hospital": ParagraphStyle("hospital", parent=base, fontSize=16, leading=22, alignment=TA_CENTER),
        "title": ParagraphStyle("title", parent=base, fontSize=13, leading=18, alignment=TA_CENTER),
        "heading": ParagraphStyle(
            "heading", parent=base, fontSize=11, leading=16, spaceBefore=8, spaceAfter=4
        ),
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=11, textColor=colors.grey),
        "cell": ParagraphStyle("cell", parent=base, fontSize=9, leading=12),
    }


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text if text is not None else "")).replace("\n", "<br/>"), style)


def _local(at: datetime.datetime | None) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M") if at is not None else ""


# --- the form's data ------------------------------------------------------------------------------


def _names(values: Iterable[Any], model: str) -> dict[Any, str]:
    keys = [v for v in values if v not in (None, "")]
    if not keys:
        return {}
    if model == "staff":
        return {s.pk: s.name for s in Staff.objects.filter(pk__in=[k for k in keys if isinstance(k, int)])}
    if model == "department":
        return {d.code: d.name for d in Department.objects.filter(code__in=[str(k) for k in keys])}
    return {a.pk: a.name for a in FormAttachment.objects.filter(pk__in=[str(k) for k in keys])}


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def display_value(component: Mapping[str, Any], value: Any) -> str:
    """A field's value as a person reads it (option labels, 是/否, names of people, departments
    and files, money with two decimals)."""
    kind = component.get("type")
    if value is None or value == "" or value == []:
        return ""
    if kind == "checkbox":
        return _("Yes") if value is True else _("No")
    if kind in ("select", "radio", "checklist", "taglist"):
        labels = {o.get("value"): o.get("label", o.get("value")) for o in component.get("values") or ()}
        return "、".join(str(labels.get(v, v)) for v in _as_list(value))
    if kind == "number" and isinstance(value, int | float) and component.get("decimalDigits") == 2:
        return f"{value:,.2f}"
    lookup = {"medoa-staff": "staff", "medoa-department": "department", "medoa-attachment": "file"}.get(
        str(kind)
    )
    if lookup is not None or kind == "medoa-signature":
        values = _as_list(value)
        names = _names(values, lookup or "file")
        return "、".join(names.get(v, str(v)) for v in values)
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def _components(schema: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    """The top-level input fields and dynamic lists of a form-js schema, groups flattened."""
    for component in schema.get("components") or ():
        kind = component.get("type")
        if kind in LAYOUT_TYPES:
            continue
        if kind == "group" and not component.get("path"):
            yield from _components(component)
        elif kind == "dynamiclist" or component.get("key"):
            yield component


@dataclass(frozen=True)
class ListView:
    label: str
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class DataView:
    """A request's form data as a person reads it: (label, text) per field, and each dynamic list
    as a table. Labels come from the form version the request was filled in for."""

    fields: list[tuple[str, str]]
    lists: list[ListView]


def request_data_view(request: ApprovalRequest) -> DataView:
    """The request's data as labelled text (the approval sheet prints it; a page may show it):
    fields hidden at some step of the process are left out, computed display-only fields too."""
    record = request.form_record
    schema: Mapping[str, Any] = record.version.schema if record is not None else {}
    values: Mapping[str, Any] = record.values if record is not None else request.data
    hidden = set(record.hidden_fields or ()) if record is not None else set()
    if not schema:  # no form record: the request's data as it was sent
        return DataView(fields=[(str(k), display_value({}, v)) for k, v in values.items()], lists=[])
    fields: list[tuple[str, str]] = []
    lists: list[ListView] = []
    for component in _components(schema):
        path = component.get("path") if component.get("type") == "dynamiclist" else component.get("key")
        if not path or path in hidden:
            continue
        label = str(component.get("label") or component.get("dateLabel") or path)
        if component.get("type") == "dynamiclist":
            listed = _list_view(label, component, values.get(path) or [])
            if listed is not None:
                lists.append(listed)
        elif not (component.get("type") == "expression" and component.get("doNotSubmit")):
            fields.append((label, display_value(component, values.get(path))))
    return DataView(fields=fields, lists=lists)


def _list_view(label: str, component: Mapping[str, Any], rows: list[Any]) -> ListView | None:
    columns = [
        c for c in component.get("components") or () if c.get("key") and c.get("type") not in LAYOUT_TYPES
    ]
    if not columns:
        return None
    return ListView(
        label=label,
        headers=[str(c.get("label") or c.get("key")) for c in columns],
        rows=[
            [display_value(c, row.get(c["key"])) for c in columns] for row in rows if isinstance(row, Mapping)
        ],
    )


def _data_flowables(request: ApprovalRequest, styles: dict[str, ParagraphStyle]) -> list[Any]:
    view = request_data_view(request)
    cell = styles["cell"]
    out: list[Any] = []
    if view.fields:
        out.append(
            _grid([[_p(k, cell), _p(v, cell)] for k, v in view.fields], [40 * mm, 130 * mm], header=False)
        )
    for listed in view.lists:
        width = 170 * mm / len(listed.headers)
        out += [
            Spacer(1, 3 * mm),
            _p(listed.label, styles["base"]),
            _grid(
                [[_p(h, cell) for h in listed.headers], *[[_p(v, cell) for v in row] for row in listed.rows]],
                [width] * len(listed.headers),
                header=True,
            ),
        ]
    return out


def _grid(rows: list[list[Any]], widths: list[float], *, header: bool) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f7")))
    else:
        style.append(("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f5f7fa")))
    table.setStyle(TableStyle(style))
    return table


def _revision_flowables(request: ApprovalRequest, styles: dict[str, ParagraphStyle]) -> list[Any]:
    revisions = contract_revisions(request)
    if not revisions:
        return []
    header = [
        _p(text, styles["cell"])
        for text in (_("Revision"), _("Contract file"), _("Revision note"), _("Time"))
    ]
    rows = [
        [
            _p(f"v{r.number}", styles["cell"]),
            _p(r.attachment.name, styles["cell"]),
            _p(r.note, styles["cell"]),
            _p(_local(r.created_at), styles["cell"]),
        ]
        for r in revisions
    ]
    return [
        _p(_("Contract revisions"), styles["heading"]),
        _grid([header, *rows], [20 * mm, 60 * mm, 60 * mm, 30 * mm], header=True),
    ]


# --- the chain ------------------------------------------------------------------------------------


def _decision(step: ChainStep) -> str:
    if step.state == "active":
        return _("Waiting")
    if step.state == "skipped":
        return _("Passed automatically")
    return str(OUTCOMES.get(step.outcome, OUTCOMES["completed"]))


def _chain_flowables(request: ApprovalRequest, styles: dict[str, ParagraphStyle]) -> list[Any]:
    header = [
        _p(text, styles["cell"])
        for text in (_("Step"), _("Approver"), pgettext("approval", "Decision"), _("Comment"), _("Time"))
    ]
    rows = [header]
    for step in request_chain(request):
        person = "、".join(step.people)
        if step.on_behalf_of:
            person = _("%(person)s on behalf of %(other)s") % {"person": person, "other": step.on_behalf_of}
        when = (
            _local(step.at)
            if step.state != "active"
            else (_("due %(at)s") % {"at": _local(step.due_at)} if step.due_at else "")
        )
        rows.append(
            [
                _p(step.name, styles["cell"]),
                _p(person, styles["cell"]),
                _p(_decision(step), styles["cell"]),
                _p(step.comment, styles["cell"]),
                _p(when, styles["cell"]),
            ]
        )
    return [_grid(rows, [34 * mm, 30 * mm, 22 * mm, 54 * mm, 30 * mm], header=True)]


# --- the sheet ------------------------------------------------------------------------------------


def hospital_name() -> str:
    root = department_root()
    return root.name if root is not None else "MedOA"


def approval_sheet_pdf(request: ApprovalRequest, *, compress: bool = True) -> bytes:
    """The approval sheet of ``request`` as PDF bytes (``compress=False`` leaves the page streams
    readable, for tests)."""
    styles = _styles()
    type_name = (
        str(request_types.get(request.type_key).name)
        if request.type_key in request_types
        else request.type_key
    )
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"{request.number or request.pk} {type_name}",
        author=hospital_name(),
        pageCompression=1 if compress else 0,
        invariant=0 if compress else 1,
    )
    facts = [
        [_("Request number"), request.number or str(request.pk), _("Type"), type_name],
        [_("Initiator"), request.initiator.name, _("Department"), request.department.name],
        [_("Submitted at"), _local(request.submitted_at), _("Status"), request.get_status_display()],
        [_("Finished at"), _local(request.finished_at), _("Summary"), request.summary],
    ]
    facts_table = _grid(
        [[_p(cell, styles["cell"]) for cell in row] for row in facts],
        [22 * mm, 63 * mm, 22 * mm, 63 * mm],
        header=False,
    )
    facts_table.setStyle(TableStyle([("BACKGROUND", (2, 0), (2, -1), colors.HexColor("#f5f7fa"))]))
    story: list[Any] = [
        _p(hospital_name(), styles["hospital"]),
        _p(_("Approval sheet · %(type)s") % {"type": type_name}, styles["title"]),
        Spacer(1, 4 * mm),
        facts_table,
        _p(_("Request"), styles["heading"]),
        *_data_flowables(request, styles),
        *_revision_flowables(request, styles),
        _p(_("Approval chain"), styles["heading"]),
        *_chain_flowables(request, styles),
        Spacer(1, 6 * mm),
        _p(_("Printed %(at)s") % {"at": _local(timezone.now())}, styles["small"]),
    ]
    document.build(story)
    return buffer.getvalue()
