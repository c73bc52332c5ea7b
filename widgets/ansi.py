"""Log lines with their SGR colours kept, as Rich ``Text``; never markup.

:func:`core.safetext.split_sgr` has already thrown away every escape that is not colour
and made control characters visible; this module turns the SGR parameters into Rich
styles (16, 256 and 24-bit colours, bold, dim, italic, underline, reverse, strike,
resets) and builds a ``Text`` out of the pieces.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from rich.color import Color
from rich.style import Style
from rich.text import Text

from core.safetext import SgrParams, collapse_cr, split_sgr

__all__ = ["SgrState", "ansi_text", "apply_sgr"]


@dataclass(frozen=True, slots=True)
class SgrState:
    """The graphic rendition a terminal would be in after some SGR sequences."""

    color: Color | None = None
    bgcolor: Color | None = None
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    reverse: bool = False
    strike: bool = False

    @property
    def style(self) -> Style:
        """The Rich style for this state."""
        return _style_of(self)


@lru_cache(maxsize=1024)
def _style_of(state: SgrState) -> Style:
    # Falsy attributes are left unset (None) so a base style shows through.
    return Style(
        color=state.color,
        bgcolor=state.bgcolor,
        bold=state.bold or None,
        dim=state.dim or None,
        italic=state.italic or None,
        underline=state.underline or None,
        reverse=state.reverse or None,
        strike=state.strike or None,
    )


_RESET = SgrState()


def _extended(params: SgrParams, index: int) -> tuple[Color | None, int]:
    """Parse ``5;n`` or ``2;r;g;b`` after a 38/48; return the colour and the next index."""
    if index < len(params):
        kind = params[index]
        if kind == 5 and index + 1 < len(params):
            return Color.from_ansi(min(params[index + 1], 255)), index + 2
        if kind == 2 and index + 3 < len(params):
            r, g, b = (min(v, 255) for v in params[index + 1 : index + 4])
            return Color.from_rgb(r, g, b), index + 4
    return None, len(params)


def apply_sgr(state: SgrState, params: SgrParams) -> SgrState:
    """The state after one SGR sequence with *params*."""
    index = 0
    while index < len(params):
        code = params[index]
        index += 1
        if code == 0:
            state = _RESET
        elif code == 1:
            state = replace(state, bold=True)
        elif code == 2:
            state = replace(state, dim=True)
        elif code == 3:
            state = replace(state, italic=True)
        elif code in (4, 21):
            state = replace(state, underline=True)
        elif code == 7:
            state = replace(state, reverse=True)
        elif code == 9:
            state = replace(state, strike=True)
        elif code == 22:
            state = replace(state, bold=False, dim=False)
        elif code == 23:
            state = replace(state, italic=False)
        elif code == 24:
            state = replace(state, underline=False)
        elif code == 27:
            state = replace(state, reverse=False)
        elif code == 29:
            state = replace(state, strike=False)
        elif 30 <= code <= 37:
            state = replace(state, color=Color.from_ansi(code - 30))
        elif 90 <= code <= 97:
            state = replace(state, color=Color.from_ansi(code - 90 + 8))
        elif code == 39:
            state = replace(state, color=None)
        elif 40 <= code <= 47:
            state = replace(state, bgcolor=Color.from_ansi(code - 40))
        elif 100 <= code <= 107:
            state = replace(state, bgcolor=Color.from_ansi(code - 100 + 8))
        elif code == 49:
            state = replace(state, bgcolor=None)
        elif code in (38, 48):
            colour, index = _extended(params, index)
            if colour is not None:
                state = (
                    replace(state, color=colour) if code == 38 else replace(state, bgcolor=colour)
                )
        elif code == 58:
            _, index = _extended(params, index)  # underline colour: not supported, skipped
        # Blink (5, 6) and conceal (8) are ignored on purpose: hidden or flashing log
        # text helps nobody reading a log.
    return state


def ansi_text(line: str, state: SgrState = _RESET) -> Text:
    """A log line as a ``Text``: CR progress collapsed, SGR colours kept, the rest inert.

    *state* is the rendition in force at the start of the line (colours do not carry
    across lines here: each line starts from the reset state unless given one).
    """
    text = Text(end="", no_wrap=True)
    for piece, params in split_sgr(collapse_cr(line)):
        if params is not None:
            state = apply_sgr(state, params)
        if piece:
            text.append(piece, state.style if state != _RESET else None)
    return text
