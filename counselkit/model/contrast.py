"""WCAG 2.x contrast of a centre's brand colours with the text the web app puts on and beside them.

Which pairs (the app's styles follow them; counselkit/webapp/config.py hands the text colours to the app):
- white text (layout.BRAND_ON_PRIMARY_COLOR) on primary_color: buttons and the header. The ratio is symmetric,
  so this is also primary_color text (links, headings) on a white card;
- primary_color text (links) on secondary_color, the page background;
- body text (layout.BRAND_TEXT_COLOR) on secondary_color.
Each must reach AA for normal text, 4.5:1 (WCAG 2.2 success criterion 1.4.3). A miss is a warning, not an error:
the centre's corporate design may demand the colour, and the operator decides."""

from __future__ import annotations

from collections.abc import Iterator

from .. import layout
from .tenant import Branding

Finding = tuple[tuple[str | int, ...], str]
AA_NORMAL_TEXT = 4.5


def _channel(value: int) -> float:
    srgb = value / 255
    return srgb / 12.92 if srgb <= 0.04045 else ((srgb + 0.055) / 1.055) ** 2.4


def relative_luminance(color: str) -> float:
    """WCAG 2.x relative luminance of '#rrggbb': 0 for black, 1 for white."""
    red, green, blue = (_channel(int(color[i:i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """(L1 + 0.05) / (L2 + 0.05) with L1 the lighter colour: 1.0 to 21.0, unrounded (4.48 is not 4.5)."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def brand_pairs(branding: Branding) -> list[tuple[str, str, str, str]]:
    """(field, foreground, background, where) of every pair the web app shows."""
    primary, secondary = branding.primary_color, branding.secondary_color
    return [
        ("primary_color", layout.BRAND_ON_PRIMARY_COLOR, primary, "white text on buttons and header"),
        ("primary_color", primary, secondary, "links on the page background (secondary_color)"),
        ("secondary_color", layout.BRAND_TEXT_COLOR, secondary, "body text on the page background"),
    ]


def contrast_warnings(branding: Branding) -> Iterator[tuple[str, str]]:
    """(field, message) for each pair below AA."""
    for field, foreground, background, where in brand_pairs(branding):
        ratio = contrast_ratio(foreground, background)
        if ratio < AA_NORMAL_TEXT:
            yield field, (f"{foreground} on {background} ({where}) has a contrast of {ratio:.2f}:1, below the "
                          f"{AA_NORMAL_TEXT}:1 of WCAG AA; people with low vision cannot read it well — "
                          "a darker primary_color or a lighter secondary_color fixes it")
