"""The printable PDF of a report, in the reader's language, from the same view as text and HTML.

Text is set in Noto Sans (Latin, Greek, Cyrillic and Devanagari), which the `fontpkg-noto-sans`
package ships as a TTF file. Thai, Lao, Khmer, Burmese and Arabic fall back to their own Noto
fonts (connectors/readings/fonts.py says where they are found), added only when the reading
holds such text, and HarfBuzz shapes the text of such scripts (marks placed, conjuncts formed,
Arabic joined and set right to left). fpdf2 embeds only the subset of each font a document uses,
so the PDF stays small and prints the same anywhere. A character no font has a glyph for
(emoji, ...) is printed as a visible \\uXXXX escape rather than dropped: the HTML rendering
shows it as written. Every page's footer carries the report id, the packet id and the sealed
SHA-256, so that a single printed page can still be tied to its packet; the full evidence block
ends the document.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import WrapMode, XPos, YPos
from fpdf.fonts import TTFFont

from connectors.readings.fonts import fonts_for, needs_shaping
from connectors.readings.render import ReportView, Row, Section, build_view, visible
from schemas.envelope import Envelope, PacketBody
from schemas.report import Report

__all__ = ["render_pdf"]

_FONT = "NotoSans"
_FONT_FILE = "NotoSans[wdth,wght].ttf"  # the variable font; its default instance is Regular
_MONO = "Courier"  # evidence values are ASCII (ids, ISO times, hex, base64)
_LABEL_WIDTH = 58.0
_CONTENT_WIDTH = 180.0
_LINE = 4.6


def _drawable(text: str, glyphs: frozenset[int]) -> str:
    shown = visible(text)
    return "".join(c if c in "\n\t" or ord(c) in glyphs else f"\\u{ord(c):04x}" for c in shown)


def _texts(view: ReportView) -> list[str]:
    """Every string the PDF may set in Noto Sans or its fallbacks."""
    sections = [*view.sections, view.evidence]
    return [
        view.title,
        view.times_note,
        view.neutralised_note or "",
        view.free_text or "",
        view.free_text_heading,
        view.none_text,
        view.evidence_note,
        view.page_label,
        *(text for s in sections for text in (s.title, *(r.label for r in s.rows))),
        *(row.value for s in view.sections for row in s.rows),
    ]


class _Document(FPDF):
    """A4 pages with the report's ids in every footer."""

    def __init__(self, view: ReportView, font_path: Path) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.view = view
        texts = _texts(view)
        families = [(_FONT, font_path)] + [(f.family, path) for f, path in fonts_for(texts)]
        glyphs: set[int] = set()
        for family, path in families:
            self.add_font(family, fname=path)
            font = self.fonts[family.lower()]
            assert isinstance(font, TTFFont)
            glyphs.update(font.ttfont.getBestCmap())
        self.glyphs = frozenset(glyphs)
        if len(families) > 1:
            self.set_fallback_fonts([family for family, _ in families[1:]])
        if needs_shaping(texts):
            self.set_text_shaping(True)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font(_MONO, size=6.5)
        ids = f"{self.view.report_id}  {self.view.packet_id}"
        self.cell(0, 3.5, ids, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.cell(120, 3.5, f"SHA-256 {self.view.sealed_sha256}")
        self.set_font(_FONT, size=7)
        page = self.view.page_label.format(page=self.page_no(), pages="{nb}")
        self.cell(0, 3.5, _drawable(page, self.glyphs), align="R")

    def drawable(self, value: str) -> str:
        """`value` with every character this font cannot draw made a visible escape."""
        return _drawable(value, self.glyphs)


def _heading(pdf: _Document, title: str, size: float) -> None:
    pdf.set_font(_FONT, size=size)
    pdf.ln(2)
    if pdf.will_page_break(size * 0.5 + 3 * _LINE):
        pdf.add_page()  # a heading is never left alone at the foot of a page
    pdf.multi_cell(
        0, size * 0.5, pdf.drawable(title), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.set_draw_color(0)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + _CONTENT_WIDTH, pdf.get_y())
    pdf.ln(1.5)


def _row(pdf: _Document, row: Row, *, mono: bool) -> None:
    # Label and value side by side; a long value breaks across pages (a table row would not).
    if pdf.will_page_break(2 * _LINE):
        pdf.add_page()
    page, top = pdf.page_no(), pdf.get_y()
    pdf.set_font(_FONT, size=9.5)
    pdf.multi_cell(
        _LABEL_WIDTH - 3,
        _LINE,
        pdf.drawable(row.label),
        align="L",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    label_end = pdf.get_y()
    pdf.set_xy(pdf.l_margin + _LABEL_WIDTH, top)
    if mono:
        pdf.set_font(_MONO, size=8)
    pdf.multi_cell(
        _CONTENT_WIDTH - _LABEL_WIDTH,
        _LINE,
        row.value if mono else pdf.drawable(row.value),
        align="L",
        wrapmode=WrapMode.CHAR if mono else WrapMode.WORD,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    if pdf.page_no() == page:
        pdf.set_y(max(label_end, pdf.get_y()))
    pdf.ln(0.8)


def _rows(pdf: _Document, rows: list[Row], *, mono: bool = False) -> None:
    for row in rows:
        _row(pdf, row, mono=mono)


def _section(pdf: _Document, section: Section, *, mono: bool = False) -> None:
    _heading(pdf, section.title, 11.5)
    _rows(pdf, section.rows, mono=mono)


def _compose(pdf: _Document, view: ReportView) -> None:
    pdf.set_title(view.title)
    pdf.set_lang(view.locale)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    _heading(pdf, view.title, 15)
    pdf.set_font(_FONT, size=8.5)
    pdf.multi_cell(
        0, 4, pdf.drawable(view.times_note), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    if view.neutralised_note is not None:
        pdf.multi_cell(
            0, 4, pdf.drawable(view.neutralised_note), new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
    for section in view.sections:
        _section(pdf, section)
    _heading(pdf, view.free_text_heading, 11.5)
    pdf.set_font(_FONT, size=10)
    body = view.free_text if view.free_text is not None else view.none_text
    pdf.multi_cell(
        0,
        5,
        pdf.drawable(body),
        border=1,
        padding=2,
        align="L",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    _section(pdf, view.evidence, mono=True)
    pdf.set_font(_FONT, size=8)
    pdf.ln(2)
    pdf.multi_cell(
        0, 4, pdf.drawable(view.evidence_note), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )


def render_pdf(
    report: Report,
    *,
    packet: PacketBody,
    sealed_sha256: str,
    locale: str = "en",
    timezone: str = "UTC",
    envelope: Envelope | None = None,
    receipt: Envelope | None = None,
) -> bytes:
    """The report as a printable A4 PDF in `locale`.

    Raises like `render.build_view`, and FontMissing if a script font it needs is not installed.
    """
    view = build_view(
        report,
        packet=packet,
        sealed_sha256=sealed_sha256,
        locale=locale,
        timezone=timezone,
        envelope=envelope,
        receipt=receipt,
    )
    with as_file(files("fontpkg_noto_sans") / "files" / _FONT_FILE) as font_path:
        pdf = _Document(view, font_path)
        _compose(pdf, view)
        return bytes(pdf.output())
