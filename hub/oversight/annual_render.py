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

    @property
    def facts(self) -> list[tuple[str, str, str]]:
        return line_facts(self)


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
            _chart(
                "decision",
                "Processing decision",
                figures.decisions,
                _label,
                "the latest of each report",
            ),
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
_GAP = 6.0
_COLUMN = (_WIDTH - _GAP) / 2
_ROW = 4.4
_MOST_BARS = 12  # a longer list ends in one bar for the rest, so a chart fits its column


class _Document(FPDF):
    def __init__(self, report: AnnualReport, font_path: Path) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report = report
        self.add_font(_FONT, fname=font_path)
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)

    @property
    def bottom(self) -> float:
        return self.h - 18

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


def _heading(pdf: _Document, text: str, size: float) -> None:
    pdf.set_font(_FONT, size=size)
    pdf.cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(0)
    pdf.set_line_width(0.3)
    pdf.line(pdf.l_margin, pdf.get_y() + 0.5, pdf.l_margin + _WIDTH, pdf.get_y() + 0.5)
    pdf.set_line_width(0.2)
    pdf.ln(3)


def _facts(
    pdf: _Document, rows: list[tuple[str, str, str]], x: float, y: float, width: float
) -> float:
    pdf.set_font(_FONT, size=8.5)
    for n, (_key, label, value) in enumerate(rows):
        pdf.set_xy(x, y + n * _ROW * 1.1)
        indented = label[0].islower()
        pdf.cell(width * 0.62, _ROW, ("   " if indented else "") + label)
        pdf.cell(width * 0.38, _ROW, value)
    return len(rows) * _ROW * 1.1


def _shown_bars(chart: BarChart) -> list[Bar]:
    if len(chart.bars) <= _MOST_BARS:
        return chart.bars
    kept, rest = chart.bars[: _MOST_BARS - 1], chart.bars[_MOST_BARS - 1 :]
    others = sum(b.value for b in rest)
    top = max(b.value for b in chart.bars) or 1
    return [*kept, Bar("", f"{len(rest)} others", others, min(others / top, 1.0))]


def _bars_height(chart: BarChart) -> float:
    return 5.0 + _ROW * max(len(_shown_bars(chart)), 1) + 3.5


def _bars(pdf: _Document, chart: BarChart, x: float, y: float, width: float) -> None:
    """A chart of horizontal bars at (x, y), `width` wide: label, bar, count."""
    pdf.set_xy(x, y)
    pdf.set_font(_FONT, size=9)
    pdf.cell(width, 5, chart.title)
    if chart.note:
        pdf.set_font(_FONT, size=7)
        pdf.set_text_color(80)
        pdf.set_xy(x, y + 4.6)
        pdf.cell(width, 3, chart.note)
        pdf.set_text_color(0)
    top = y + 5 + (3.2 if chart.note else 0)
    label_width, value_width = width * 0.42, 10.0
    bar_width = width - label_width - value_width - 2
    pdf.set_font(_FONT, size=8)
    bars = _shown_bars(chart)
    if not bars:
        pdf.set_xy(x, top)
        pdf.cell(width, _ROW, "none")
    pdf.set_fill_color(140)
    for n, bar in enumerate(bars):
        row = top + n * _ROW
        pdf.set_xy(x, row)
        pdf.cell(label_width - 1.5, _ROW, bar.label, align="R")
        if bar.value:
            length = max(bar_width * bar.share, 0.5)
            pdf.rect(x + label_width, row + 0.7, length, _ROW - 1.4, "F")
        pdf.set_xy(x + width - value_width, row)
        pdf.cell(value_width, _ROW, str(bar.value), align="R")


def _histogram_pdf(pdf: _Document, view: LineView, x: float, y: float, width: float) -> float:
    """The processing-time histogram at (x, y); returns its height."""
    histogram, p = view.histogram, view.figures.processing
    pdf.set_xy(x, y)
    pdf.set_font(_FONT, size=9)
    pdf.cell(width, 5, "Hours from intake to the first decision")
    pdf.set_font(_FONT, size=7)
    pdf.set_text_color(80)
    pdf.set_xy(x, y + 4.2)
    note = f"clock hours; darker: over {p.limit_hours:g} h; {p.undecided} undecided not shown"
    pdf.cell(width, 3, note)
    pdf.set_text_color(0)
    plot = 30.0
    top = y + 13
    base = top + plot
    slot = width / max(len(histogram.columns), 1)
    pdf.set_draw_color(0)
    pdf.line(x, base, x + width, base)
    pdf.set_font(_FONT, size=7)
    for i, column in enumerate(histogram.columns):
        left = x + i * slot
        height = (plot - 5) * column.share  # room above the tallest for the limit's label
        pdf.set_fill_color(60 if column.over_limit else 170)
        if column.value:
            pdf.rect(left + slot * 0.15, base - height, slot * 0.7, height, "F")
        pdf.set_xy(left, base - height - 3.6)
        pdf.cell(slot, 3.4, str(column.value), align="C")
        pdf.set_xy(left, base + 0.6)
        pdf.cell(slot, 3.4, column.label, align="C")
    marker = x + histogram.limit_after * slot
    pdf.set_line_width(0.5)
    pdf.set_dash_pattern(dash=1.2, gap=0.9)
    pdf.line(marker, top - 3, marker, base)
    pdf.set_dash_pattern()
    pdf.set_line_width(0.2)
    pdf.set_xy(marker + 0.8, top - 3.6)
    pdf.cell(24, 3.4, f"limit {histogram.limit_hours:g} h")
    return base + 5 - y


def _pct(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f} %"


def _hours_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} h"


def line_facts(view: LineView) -> list[tuple[str, str, str]]:
    """The headline figures of a line: key, label (lower case: a detail of the row above) and
    value."""
    f = view.figures
    p, d = f.processing, f.deliveries
    rows = [("reports", "Reports received", str(f.reports))]
    if f.from_line_portal is not None:
        rows.append(("from_line_portal", "from the line's own portal", str(f.from_line_portal)))
    rows += [
        (
            "within_limit",
            f"Decided within {p.limit_hours:g} hours",
            f"{p.within_limit} of {p.decided}",
        ),
        ("share_within_limit", "share", _pct(p.share_within_limit)),
        (
            "times",
            "median, 95th percentile",
            f"{_hours_text(p.median_hours)}, {_hours_text(p.p95_hours)}",
        ),
        ("undecided", "Not decided yet", str(p.undecided)),
        ("undecided_over_limit", "of them over the limit", str(p.undecided_over_limit)),
        ("packets", "Packets to the recipients", str(d.packets)),
        ("receipts", "with a verified receipt", str(d.receipts)),
        ("dead_letters", "dead letters", str(d.dead_letters)),
        ("in_transit", "in transit", str(d.in_transit)),
    ]
    return rows


def _scope(pdf: _Document, view: LineView) -> None:
    """One line's (or the network's) figures: facts beside the histogram, then the charts in
    pairs, a pair moving to the next page whole."""
    _heading(pdf, view.title, 13)
    y = pdf.get_y()
    used = _facts(pdf, line_facts(view), pdf.l_margin, y, 72)
    used = max(used, _histogram_pdf(pdf, view, pdf.l_margin + 80, y, _WIDTH - 80))
    y += used + 3
    for left, right in zip(view.charts[0::2], view.charts[1::2], strict=True):
        height = max(_bars_height(left), _bars_height(right)) + (
            2.6 if left.note or right.note else 0
        )
        if y + height > pdf.bottom:
            pdf.add_page()
            y = pdf.t_margin
        _bars(pdf, left, pdf.l_margin, y, _COLUMN)
        _bars(pdf, right, pdf.l_margin + _COLUMN + _GAP, y, _COLUMN)
        y += height
    pdf.set_y(y)


def render_pdf(report: AnnualReport) -> bytes:
    """The annual report as an A4 PDF: the lines side by side, then a page per scope."""
    views = annual_views(report)
    with as_file(files("fontpkg_noto_sans") / "files" / _FONT_FILE) as font_path:
        pdf = _Document(report, font_path)
        pdf.set_title(f"Annual report {report.year}")
        pdf.set_lang("en")
        pdf.add_page()
        pdf.set_font(_FONT, size=17)
        title = f"Annual report {report.year}"
        if report.network is None and views:
            title += f" · {views[0].title}"
        pdf.cell(0, 9, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(_FONT, size=8.5)
        pdf.multi_cell(
            0,
            4,
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
            chart, y = lines_chart(report), pdf.get_y()
            _bars(pdf, chart, pdf.l_margin, y, _COLUMN)
            pdf.set_y(y + _bars_height(chart))
        for n, view in enumerate(views):
            if n > 0:
                pdf.add_page()
            _scope(pdf, view)
        return bytes(pdf.output())
