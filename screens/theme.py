"""Light terminals: lab.toml's `[tui] theme = "light"` picks Textual's textual-light.

A few colours that read well on a dark background do not on a light one (an orange command
line, a blue footer key on grey): on light they take the theme's `$text-*` colours, which
Textual computes to contrast with the background. Dark keeps Textual's defaults.
tests/tui/test_light_theme.py measures the contrast of every character on the main screens.
"""

from __future__ import annotations

THEMES = {"dark": "textual-dark", "light": "textual-light"}

LIGHT_CSS = """
.-light-mode FooterKey .footer-key--key { color: $text-primary; }
.-light-mode FormScreen #cli { color: $text-primary; }
.-light-mode .field-error, .-light-mode #error, .-light-mode #wrong { color: $text-error; }
.-light-mode #hint.-error { color: $text-error; }
.-light-mode Input > .input--placeholder { color: $text-muted; }
"""
