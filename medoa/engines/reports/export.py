"""Exports of a query result: .xlsx (openpyxl) and PDF with the chart drawn by
reportlab.graphics from the same rows (Chinese through the built-in CID font STSong-Light)."""

from __future__ import annotations

import io
from typing import Any

FONT = "STSong-Light"


def to_xlsx(title: str, result: Any) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws: Any = wb.active
    ws.title = title[:31] or "report"
    ws.append([c["label"] for c in result.columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in result.rows:
        ws.append(row)
    ws.append(result.totals)
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def chart_drawing(result: Any, chart: str = "bar") -> Any:
    """A reportlab drawing of the first measure by the first dimension."""
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.charts.linecharts import HorizontalLineChart
    from reportlab.graphics.charts.piecharts import Pie
    from reportlab.graphics.shapes import Drawing

    font = _font()
    dims = [i for i, c in enumerate(result.columns) if c["kind"] == "dimension"]
    meas = [i for i, c in enumerate(result.columns) if c["kind"] == "measure"]
    drawing = Drawing(480, 240)
    if not dims or not meas or not result.rows:
        return drawing
    labels = [str(r[dims[0]]) for r in result.rows[:30]]
    values = [float(r[meas[0]] or 0) for r in result.rows[:30]]
    if chart == "pie":
        pie = Pie()
        pie.x, pie.y, pie.width, pie.height = 150, 20, 200, 200
        pie.data = values
        pie.labels = labels
        pie.slices.fontName = font
        drawing.add(pie)
        return drawing
    plot = HorizontalLineChart() if chart == "line" else VerticalBarChart()
    plot.x, plot.y, plot.width, plot.height = 50, 50, 400, 170
    plot.data = [values]
    plot.categoryAxis.categoryNames = labels
    plot.categoryAxis.labels.fontName = font
    plot.categoryAxis.labels.angle = 30
    plot.categoryAxis.labels.boxAnchor = "ne"
    plot.valueAxis.valueMin = 0
    drawing.add(plot)
    return drawing


def to_pdf(title: str, result: Any, *, chart: str = "bar") -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _font()
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, title=title)
    story: list[Any] = [
        Paragraph(title, ParagraphStyle("t", fontName=font, fontSize=16, leading=20)),
        Spacer(1, 8),
    ]
    story.append(chart_drawing(result, chart))
    data = (
        [[c["label"] for c in result.columns]]
        + [["" if v is None else str(v) for v in row] for row in result.rows[:200]]
        + [["" if v is None else str(v) for v in result.totals]]
    )
    table = Table(data, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), font),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
            ]
        )
    )
    story.append(table)
    doc.build(story)
    return out.getvalue()
