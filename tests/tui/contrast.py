"""How readable the screen is: the WCAG contrast ratio of each character's colour against
its background, read from what Textual's compositor draws (truecolour, as a terminal gets)."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from textual._compositor import visible_screen_stack
from textual.screen import ModalScreen

# Lines, blocks and blanks carry no words: scrollbars, borders, bars and padding.
DECOR = frozenset("▏▎▍▌▋▊▉█▁▂▃▄▅▆▇▔▀▐░─│├└┌┐┘┤┬┴┼━┃╭╮╯╰ ")


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = rgb
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def ratio(fg: tuple[int, int, int], bg: tuple[int, int, int]) -> float:
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def faint_text(app: Any, below: float) -> list[tuple[float, str]]:
    """(ratio, text) of every run of words on the top screen (a modal's box alone, since
    Textual dims what is behind it on purpose) whose contrast is under `below`."""
    screen = app.screen
    region = screen.children[0].region if isinstance(screen, ModalScreen) else screen.region
    visible_screen_stack.set(app._background_screens)
    faint = []
    for y, strip in enumerate(screen._compositor.render_strips()):
        x = 0
        for segment in strip:
            start, x = x, x + cell_len(segment.text)
            style = segment.style
            if not region.contains(start, y) or not set(segment.text) - DECOR or style is None:
                continue
            if style.color is None or style.bgcolor is None:
                continue
            value = ratio(style.color.get_truecolor(), style.bgcolor.get_truecolor())
            if value < below:
                faint.append((round(value, 2), segment.text.strip()))
    return faint
