"""The annual report made to be looked at: HTML with SVG charts drawn here, and a printable PDF.

Both are drawn from one view (`annual_views`): per line, bars per category, country of the
incident, classification, routing rule, decision and outcome, and a histogram of the hours from
intake to the first decision with S2's limit marked. The charts are computed on the server; no
script runs and nothing is loaded from elsewhere. The PDF (fpdf2, Noto Sans embedded, as the
connectors' readings) is A4, black on white with grey bars, so it reads the same printed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path

import pycountry
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hub.oversight.annual import NONE_YET, UNCLASSIFIED, UNKNOWN, AnnualReport, LineFigures
from hub.oversight.figures import NETWORK

__all__ = [
    "BarChart",
    "Histogram",
    "LineView",
    "annual_views",
    "line_facts",
    "lines_chart",
    "render_html",
    "render_pdf",
]

TEMPLATES = Path(__file__).parents[1] / "templates"

_LABELS = {
    "forward": "forwarded",
    "needs_information": "needs information",
    "close": "closed",
    NONE_YET: "none yet",
    "conviction": "conviction",
    "investigation_opened": "investigation opened",
    "no_action": "no action",
    "in_progress": "in progress",
    UNCLASSIFIED: "not classified yet",
    UNKNOWN: "not recorded",
}
_OUTCOME_LABELS = {NONE_YET: "none recorded"}


def _country_name(code: str) -> str:
    if code == UNKNOWN:
        return _LABELS[UNKNOWN]
    country = pycountry.countries.get(alpha_2=code)
    name = getattr(country, "common_name", None) or getattr(country, "name", None)
    return f"{name} ({code})" if name else code


def _label(code: str) -> str:
    return _LABELS.get(code, code.replace("_", " "))


# The view: geometry in SVG units, shared by the HTML and the PDF


@dataclass(frozen=True)
class Bar:
    code: str
    label: str
    value: int
    share: float  # of the chart's largest value: the bar's length, 0 to 1


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one per code, longest for the largest count."""

    key: str
    title: str
    bars: list[Bar]
    note: str = ""

    @property
    def height(self) -> int:
        return 22 * len(self.bars) + 6


@dataclass(frozen=True)
class Column:
    label: str
    value: int
    share: float
    over_limit: bool


@dataclass(frozen=True)
class Histogram:
    """Reports per band of hours from intake to the first decision; S2's limit marked."""

    columns: list[Column]
    limit_hours: float
    limit_after: int  # how many columns lie within the limit: the marker stands after them


@dataclass(frozen=True)
class LineView:
    scope: str
    title: str
    figures: LineFigures
    charts: list[BarChart]
    histogram: Histogram


def _chart(
    key: str, title: str, counts: dict[str, int], label: Callable[[str], str], note: str = ""
) -> BarChart:
    top = max(counts.values(), default=0) or 1
    return BarChart(
        key=key,
        title=title,
        bars=[Bar(code, label(code), n, n / top) for code, n in counts.items()],
        note=note,
    )


def _band(low: float, high: float | None) -> str:
    """A histogram band's label: hours up to three days, then days."""
    if high is None:
        return f"over {low:g} h" if low < 72 else f"over {low / 24:g} d"
    if high <= 72:
        return f"{low:g}-{high:g} h"
    return f"{low / 24:g}-{high / 24:g} d"


def _histogram(figures: LineFigures) -> Histogram:
    bars = figures.processing.histogram
    top = max((b.reports for b in bars), default=0) or 1
    limit = figures.processing.limit_hours
    columns = []
    for bar in bars:
        label = _band(bar.above_hours, bar.to_hours)
        columns.append(Column(label, bar.reports, bar.reports / top, bar.above_hours >= limit))
    return Histogram(
        columns=columns,
        limit_hours=limit,
        limit_after=sum(b.to_hours is not None and b.to_hours <= limit for b in bars),
    )


def _line_view(figures: LineFigures) -> LineView:
    network = figures.scope == NETWORK
    return LineView(
        scope=figures.scope,
        title="The network" if network else _country_name(figures.scope),
        figures=figures,
        charts=[
            _chart("category", "Reports by category", figures.by_category, _label),
            _chart(
                "incident-country",
                "Reports by country of the incident",
                figures.by_incident_country,
                _country_name,
            ),
            _chart(
                "classification",
                "Reports by classification",
                figures.by_classification,
                _label,
                "the network's common codes, from the latest triage decision",
            ),
            _chart(
                "routing-rule",
                "Reports by routing rule",
                figures.by_routing_rule,
                str,
                "a report chosen by two rules counts under each",
            ),
            _chart("decision", "Processing decision", figures.decisions, _label, "the latest"),
            _chart(
                "outcome",
                "Outcome",
                figures.outcomes,
                lambda c: _OUTCOME_LABELS.get(c, _label(c)),
                "the furthest one recorded",
            ),
        ],
        histogram=_histogram(figures),
    )


def annual_views(report: AnnualReport) -> list[LineView]:
    """The network first (when shown), then each line."""
    scopes = ([report.network] if report.network else []) + report.lines
    return [_line_view(figures) for figures in scopes]


def lines_chart(report: AnnualReport) -> BarChart:
    """Reports received per line: the first chart of the report."""
    counts = {f.scope: f.reports for f in report.lines}
    return _chart("lines", "Reports received per line", counts, _country_name)


# HTML


def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(report: AnnualReport) -> str:
    """A standalone page (its stylesheet inline): every line's figures and charts."""
    css = (TEMPLATES / "dashboard.css").read_text(encoding="utf-8")
    return (
        environment()
        .get_template("annual_report.html")
        .render(report=report, views=annual_views(report), lines=lines_chart(report), css=css)
    )


# PDF

_FONT = "NotoSans"
_FONT_FILE = "NotoSans[wdth,wght].ttf"
_WIDTH = 180.0  # A4 less 15 mm margins
_ROW = 5.2


class _Document(FPDF):
    def __init__(self, report: AnnualReport, font_path: Path) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report = report
        self.add_font(_FONT, fname=font_path)
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(_FONT, size=7)
        self.set_text_color(90)
        self.cell(
            _WIDTH / 2,
            4,
            f"Annual report {self.report.year} · counts from the hub's metadata, no content",
        )
        self.cell(_WIDTH / 2, 4, f"page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0)


def _heading(pdf: _Document, text: str, size: float, *, new_page: bool = False) -> None:
    if new_page or pdf.will_page_break(size * 0.5 + 30):
        pdf.add_page()
    pdf.set_font(_FONT, size=size)
    pdf.cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(0)
    pdf.line(pdf.l_margin, pdf.get_y() + 0.5, pdf.l_margin + _WIDTH, pdf.get_y() + 0.5)
    pdf.ln(2.5)


def _facts(pdf: _Document, rows: list[tuple[str, str]]) -> None:
    pdf.set_font(_FONT, size=9)
    for label, value in rows:
        pdf.cell(70, _ROW, label)
        pdf.cell(0, _ROW, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)


def _bars(pdf: _Document, chart: BarChart) -> None:
    height = 5.5 + _ROW * max(len(chart.bars), 1) + 3
    if pdf.will_page_break(height):
        pdf.add_page()
    pdf.set_font(_FONT, size=9.5)
    title = chart.title + (f" ({chart.note})" if chart.note else "")
    pdf.cell(0, 5.5, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(_FONT, size=8.5)
    label_width, bar_width = 62.0, 98.0
    if not chart.bars:
        pdf.cell(0, _ROW, "none", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for bar in chart.bars:
        y = pdf.get_y()
        pdf.cell(label_width, _ROW, bar.label)
        pdf.set_fill_color(150)
        if bar.value:
            pdf.rect(pdf.l_margin + label_width, y + 1, max(bar_width * bar.share, 0.4), 3.2, "F")
        pdf.set_x(pdf.l_margin + label_width + bar_width + 2)
        pdf.cell(0, _ROW, str(bar.value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)


def _histogram_pdf(pdf: _Document, histogram: Histogram, processing_note: str) -> None:
    plot = 38.0
    if pdf.will_page_break(plot + 24):
        pdf.add_page()
    pdf.set_font(_FONT, size=9.5)
    title = "Hours from intake to the first decision"
    pdf.cell(0, 5.5, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(_FONT, size=8)
    pdf.multi_cell(0, 4, processing_note, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    top = pdf.get_y() + 5
    count = max(len(histogram.columns), 1)
    slot = _WIDTH / count
    base = top + plot
    pdf.set_draw_color(0)
    pdf.line(pdf.l_margin, base, pdf.l_margin + _WIDTH, base)
    for i, column in enumerate(histogram.columns):
        x = pdf.l_margin + i * slot
        height = plot * column.share
        pdf.set_fill_color(70 if column.over_limit else 165)
        if column.value:
            pdf.rect(x + slot * 0.15, base - height, slot * 0.7, height, "F")
        pdf.set_xy(x, base - height - 4.5)
        pdf.cell(slot, 4, str(column.value), align="C")
        pdf.set_xy(x, base + 0.8)
        pdf.cell(slot, 4, column.label, align="C")
    marker = pdf.l_margin + histogram.limit_after * slot
    pdf.set_line_width(0.6)
    pdf.set_dash_pattern(dash=1.5, gap=1)
    pdf.line(marker, top - 3, marker, base)
    pdf.set_dash_pattern()
    pdf.set_line_width(0.2)
    pdf.set_xy(marker + 1, top - 4)
    pdf.cell(40, 4, f"limit {histogram.limit_hours:g} h")
    pdf.set_xy(pdf.l_margin, base + 7)
    pdf.ln(2)


def _pct(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f} %"


def _hours_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} h"


def line_facts(view: LineView) -> list[tuple[str, str]]:
    """The headline figures of a line, as label and value."""
    f = view.figures
    p, d = f.processing, f.deliveries
    rows = [("Reports received", str(f.reports))]
    if f.from_line_portal is not None:
        rows.append(("of them from the line's own portal", str(f.from_line_portal)))
    rows += [
        (
            f"Decided within {p.limit_hours:g} hours",
            f"{p.within_limit} of {p.decided} decided ({_pct(p.share_within_limit)})",
        ),
        ("Median, 95th percentile", f"{_hours_text(p.median_hours)}, {_hours_text(p.p95_hours)}"),
        ("Not decided yet", f"{p.undecided} ({p.undecided_over_limit} over the limit)"),
        ("Packets to the line's recipients", str(d.packets)),
        ("with a verified receipt", str(d.receipts)),
        ("dead letters", str(d.dead_letters)),
        ("in transit", str(d.in_transit)),
    ]
    return rows


def render_pdf(report: AnnualReport) -> bytes:
    """The annual report as an A4 PDF: a summary page, then a section per scope."""
    views = annual_views(report)
    with as_file(files("fontpkg_noto_sans") / "files" / _FONT_FILE) as font_path:
        pdf = _Document(report, font_path)
        pdf.set_title(f"Annual report {report.year}")
        pdf.set_lang("en")
        pdf.add_page()
        pdf.set_font(_FONT, size=17)
        pdf.cell(0, 9, f"Annual report {report.year}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(_FONT, size=9)
        pdf.multi_cell(
            0,
            4.4,
            f"{report.start:%Y-%m-%d} to {report.end:%Y-%m-%d} (UTC, end excluded); made "
            f"{report.generated_at:%Y-%m-%d %H:%M} UTC by the hub from its metadata: the coded "
            "facts intake keeps (country of the incident, category), the recipients' coded "
            "triage decisions and outcomes, and the deliveries. No report content, no report id. "
            "A report counts in each line whose recipients it was routed to; the network counts "
            "it once. Processing time: clock hours from intake to the first triage decision "
            "(weekends count), against the network's standard S2.",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.ln(3)
        if len(report.lines) > 1:
            _bars(pdf, lines_chart(report))
        for n, view in enumerate(views):
            _heading(pdf, view.title, 14, new_page=n > 0 or len(report.lines) > 1)
            _facts(pdf, line_facts(view))
            p = view.figures.processing
            _histogram_pdf(
                pdf,
                view.histogram,
                f"{p.decided} reports decided; darker bars are over the limit of "
                f"{p.limit_hours:g} hours; {p.undecided} not decided yet are not in the chart.",
            )
            for chart in view.charts:
                _bars(pdf, chart)
        return bytes(pdf.output())
