"""The fonts a printable reading draws with: Noto Sans, and the Noto font of each other script.

Noto Sans (Latin, Greek, Cyrillic and Devanagari) comes with the `fontpkg-noto-sans` package.
Reports about Thailand, Cambodia, Laos, Myanmar or the Arab world quote place names and words in
their own scripts; those are drawn with Debian's `fonts-noto-core` files, found in `NOTO_DIR`
(/usr/share/fonts/truetype/noto, or the folder named by $CONNECTOR_NOTO_FONTS). A font is
needed only when the reading holds a character of its script, so a reading without one needs
nothing but Noto Sans; a needed font that is missing raises FontMissing, naming the file.
Text whose letters must be reordered, joined or stacked (Devanagari too, and decomposed accents)
is shaped: `needs_shaping`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from connectors.errors import FontMissing

__all__ = [
    "NOTO_DIR",
    "NOTO_DIR_VARIABLE",
    "SCRIPT_FONTS",
    "ScriptFont",
    "fonts_for",
    "needs_shaping",
    "noto_dir",
]

NOTO_DIR = Path("/usr/share/fonts/truetype/noto")
NOTO_DIR_VARIABLE = "CONNECTOR_NOTO_FONTS"


@dataclass(frozen=True)
class ScriptFont:
    """One script's Noto font: its family name in the PDF, its file, and its Unicode blocks."""

    family: str
    file: str
    blocks: tuple[tuple[int, int], ...]

    def covers(self, code_point: int) -> bool:
        return any(first <= code_point <= last for first, last in self.blocks)


# The scripts the network's incidents are reported in that Noto Sans lacks, with the blocks each
# font covers. Devanagari is in Noto Sans itself.
SCRIPT_FONTS = (
    ScriptFont("NotoSansThai", "NotoSansThai-Regular.ttf", ((0x0E00, 0x0E7F),)),
    ScriptFont("NotoSansLao", "NotoSansLao-Regular.ttf", ((0x0E80, 0x0EFF),)),
    ScriptFont("NotoSansKhmer", "NotoSansKhmer-Regular.ttf", ((0x1780, 0x17FF), (0x19E0, 0x19FF))),
    ScriptFont(
        "NotoSansMyanmar",
        "NotoSansMyanmar-Regular.ttf",
        ((0x1000, 0x109F), (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F)),
    ),
    ScriptFont(
        "NotoSansArabic",
        "NotoSansArabic-Regular.ttf",
        (
            (0x0600, 0x06FF),
            (0x0750, 0x077F),
            (0x08A0, 0x08FF),
            (0xFB50, 0xFDFF),
            (0xFE70, 0xFEFF),
        ),
    ),
)


# Where letters are reordered, joined or stacked, or marks combine with the letter before them
# (a decomposed "é"): HarfBuzz places them. Hebrew to Vedic, the Indic and Myanmar extensions,
# the Arabic presentation forms, and the combining diacritics.
_SHAPED = (
    (0x0300, 0x036F),
    (0x0590, 0x1CFF),
    (0xA800, 0xABFF),
    (0xFB1D, 0xFEFF),
)
_COMPLEX_FROM = 0x0590


def needs_shaping(texts: Iterable[str]) -> bool:
    """Whether `texts` hold a character that must be shaped to be read."""
    return any(first <= ord(c) <= last for text in texts for c in text for first, last in _SHAPED)


def noto_dir() -> Path:
    """The folder the script fonts are read from: $CONNECTOR_NOTO_FONTS, else NOTO_DIR."""
    configured = os.environ.get(NOTO_DIR_VARIABLE)
    return Path(configured) if configured else NOTO_DIR


def fonts_for(texts: Iterable[str]) -> list[tuple[ScriptFont, Path]]:
    """The script fonts `texts` need, each with its file. Raises FontMissing for a missing file."""
    code_points = {ord(c) for text in texts for c in text if ord(c) >= _COMPLEX_FROM}
    needed = [font for font in SCRIPT_FONTS if any(font.covers(c) for c in code_points)]
    folder = noto_dir()
    found: list[tuple[ScriptFont, Path]] = []
    for font in needed:
        path = folder / font.file
        if not path.is_file():
            raise FontMissing(
                f"the font {font.file} is missing from {folder}: install Debian's fonts-noto-core "
                f"(or set {NOTO_DIR_VARIABLE} to a folder that holds it)"
            )
        found.append((font, path))
    return found
