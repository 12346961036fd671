"""Colours of the theme: from one brand colour to CSS custom properties that keep WCAG AA contrast.

The admin picks any brand colour; links and buttons use it only after it has been darkened (light theme) or
lightened (dark theme) until text in that colour reaches 4.5:1 against every background it appears on, and
button text is white or near-black, whichever reads better. So no brand colour can make the portal fail
the contrast checks of axe-core.
"""

from __future__ import annotations

import re

HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
DEFAULT_COLOUR = "#1f6feb"
LIGHT = {"bg": "#f7f7f5", "card": "#ffffff", "fg": "#0f1115"}
DARK = {"bg": "#0f1115", "card": "#161b22", "fg": "#0f1115"}
TARGET = 4.7  # a little above 4.5:1 so rounding in browsers never tips it under
TINT = 0.12  # .banner mixes 12 % of the accent into the card colour (plugdesk.css)

Rgb = tuple[float, float, float]


def parse_hex(value: str) -> Rgb:
    """``#abc`` or ``#aabbcc`` as an (r, g, b) triple of 0..255 floats; raise ``ValueError`` otherwise."""
    if not isinstance(value, str) or not HEX.match(value.strip()):
        raise ValueError("Enter a colour as a hex value, like #1f6feb.")
    digits = value.strip()[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return (float(int(digits[0:2], 16)), float(int(digits[2:4], 16)), float(int(digits[4:6], 16)))


def to_hex(rgb: Rgb) -> str:
    """``#rrggbb`` (lower case) of an (r, g, b) triple."""
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def luminance(rgb: Rgb) -> float:
    """WCAG 2 relative luminance."""
    def channel(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Rgb, b: Rgb) -> float:
    """WCAG 2 contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def mix(a: Rgb, b: Rgb, share_of_b: float) -> Rgb:
    """``a`` with ``share_of_b`` (0..1) of ``b`` mixed in (sRGB, like CSS ``color-mix(in srgb, ...)``)."""
    return (a[0] + (b[0] - a[0]) * share_of_b, a[1] + (b[1] - a[1]) * share_of_b,
            a[2] + (b[2] - a[2]) * share_of_b)


def readable_on(colour: Rgb, backgrounds: list[Rgb], towards: Rgb) -> Rgb:
    """``colour`` moved towards ``towards`` (black or white) just enough to reach :data:`TARGET` on every
    background, including the banner tint that contains the colour itself."""
    step = 0.0
    candidate = colour
    while step <= 1.0:
        candidate = mix(colour, towards, step)
        tints = [mix(bg, candidate, TINT) for bg in backgrounds]
        if all(contrast(candidate, bg) >= TARGET for bg in [*backgrounds, *tints]):
            return candidate
        step += 0.02
    return towards


def palette(brand: str) -> dict[str, dict[str, str]]:
    """Custom properties for the light and the dark theme from one brand colour."""
    base = parse_hex(brand)
    black, white = (0.0, 0.0, 0.0), (255.0, 255.0, 255.0)
    light_bgs = [parse_hex(LIGHT["bg"]), parse_hex(LIGHT["card"])]
    dark_bgs = [parse_hex(DARK["bg"]), parse_hex(DARK["card"])]
    light = readable_on(base, light_bgs, black)
    dark = readable_on(base, dark_bgs, white)
    ink = parse_hex(LIGHT["fg"])
    return {
        "light": {"--accent": to_hex(light), "--brand": to_hex(base),
                  "--accent-fg": "#ffffff" if contrast(light, white) >= contrast(light, ink) else LIGHT["fg"]},
        "dark": {"--accent": to_hex(dark), "--brand": to_hex(base),
                 "--accent-fg": DARK["fg"] if contrast(dark, ink) >= contrast(dark, white) else "#ffffff"},
    }


def theme_css(brand: str) -> str:
    """The stylesheet served at ``/theme.css`` (loaded after ``plugdesk.css``)."""
    colours = palette(brand)

    def block(values: dict[str, str]) -> str:
        return " ".join(f"{k}:{v};" for k, v in values.items())

    return (f":root {{ {block(colours['light'])} }}\n"
            f"@media (prefers-color-scheme: dark) {{ :root {{ {block(colours['dark'])} }} }}\n")
