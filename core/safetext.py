"""Turn remote text (job names, paths, log lines) into something safe to show in a terminal.

Anything that came from the cluster is data. Left alone, a job name such as
``"\\x1b[2J"`` clears the user's screen, an OSC sequence retitles the terminal, a
``"\\r"`` moves the cursor and a bidi override reorders what follows it. This module
removes every terminal escape (keeping SGR colour only where asked), makes the other
control characters visible in caret notation, expands tabs and collapses
carriage-return progress lines the way a terminal would have drawn them.

Everything here is pure string work on precompiled regexes with a fast path for the
common clean line, so it can run on every line of a log shown on screen.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = [
    "SgrParams",
    "clean_line",
    "collapse_cr",
    "expand_tabs",
    "split_sgr",
    "strip_escapes",
    "text_width",
    "visible_controls",
]

SgrParams = tuple[int, ...]
"""The numeric parameters of one SGR sequence (``ESC [ 1;31 m`` → ``(1, 31)``)."""

TAB_SIZE = 8

# ESC-introduced sequences, longest forms first. String sequences (OSC, DCS, SOS, PM,
# APC) run to ST (ESC \\) or BEL; an unterminated one swallows the rest of the line,
# because a terminal would have swallowed it too.
_CSI = r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
_STRING = (
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])"  # introducer
    r"(?:[^\x07\x1b\x9c]|\x1b(?!\\))*"  # payload
    r"(?:\x07|\x1b\\|\x9c)?"  # terminator
)
_ESC_OTHER = r"\x1b[ -/]*[0-~]?"
_ESCAPES_RE = re.compile(f"{_STRING}|{_CSI}|{_ESC_OTHER}")

_ESC_OR_C1_RE = re.compile("[\x1b\x80-\x9f]")

# SGR (Select Graphic Rendition): the only sequence the log viewer keeps.
_SGR_RE = re.compile(r"\x1b\[([0-9;:]*)m")

# C0 controls except TAB, DEL, C1 controls, and the invisible formatting characters that
# can reorder or hide text (bidi overrides/isolates, zero-width joiners are left alone
# because emoji need them).
_INVISIBLE = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL_RE = re.compile(f"[\x00-\x08\x0a-\x1f\x7f-\x9f{_INVISIBLE}]")

# Anything that needs work at all: the fast path is a single search over the line.
_NEEDS_WORK_RE = re.compile(f"[\x00-\x1f\x7f-\x9f{_INVISIBLE}]")


@lru_cache(maxsize=256)
def _control_repr(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    if code <= 0x9F:
        return f"<{code:02X}>"
    return f"<U+{code:04X}>"


def _replace_control(match: re.Match[str]) -> str:
    return _control_repr(match.group())


def visible_controls(text: str) -> str:
    """Show each control character in caret notation (``\\x07`` → ``^G``, DEL → ``^?``).

    C1 controls become ``<9B>`` and bidi/direction marks ``<U+202E>``. TABs are kept
    (see :func:`expand_tabs`). Escape sequences must already be gone.
    """
    return _CONTROL_RE.sub(_replace_control, text)


def strip_escapes(text: str) -> str:
    """Remove every terminal escape sequence (CSI, OSC, DCS, SOS/PM/APC, single ESC)."""
    if _ESC_OR_C1_RE.search(text) is None:
        return text
    return _ESCAPES_RE.sub("", text)


def _char_width(char: str) -> int:
    # rich.cells would do, but core stays free of UI libraries; east-asian wide and
    # fullwidth characters take two cells, combining marks none.
    if char < "\u0300":
        return 1
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def text_width(text: str) -> int:
    """The number of terminal cells *text* takes (CJK counts two)."""
    if text.isascii():
        return len(text)
    return sum(_char_width(c) for c in text)


def expand_tabs(text: str, column: int = 0, tab_size: int = TAB_SIZE) -> str:
    """Expand TABs to spaces at tab stops measured in cells, starting at *column*."""
    if "\t" not in text:
        return text
    out: list[str] = []
    col = column
    for piece_index, piece in enumerate(text.split("\t")):
        if piece_index:
            pad = tab_size - (col % tab_size)
            out.append(" " * pad)
            col += pad
        out.append(piece)
        col += text_width(piece)
    return "".join(out)


def clean_line(text: str) -> str:
    """Plain, safe text for display: no escapes, controls visible, tabs expanded.

    ``"[bold]x[/]"`` stays as it is (it is not markup here), ``"\\x1b[2J"`` disappears,
    ``"\\x07"`` becomes ``"^G"``, ``"\\r"`` ``"^M"`` and ``"\\n"`` ``"^J"``, so a one-line
    value stays one line.
    """
    if _NEEDS_WORK_RE.search(text) is None:
        return text
    # Controls first: their caret forms take two cells and move the tab stops.
    return expand_tabs(visible_controls(strip_escapes(text)))


# --- carriage returns -----------------------------------------------------------------

_TOKEN_RE = re.compile(f"({_STRING}|{_CSI}|{_ESC_OTHER})")


def collapse_cr(line: str) -> str:
    """What a terminal shows after drawing *line*: each ``\\r`` returns to column 0.

    ``"10%\\r100%"`` → ``"100%"``; ``"abcdef\\rXY"`` → ``"XYcdef"``; a trailing ``\\r``
    (CRLF files) changes nothing. Escape sequences ride along with the character after
    them, so colours survive the overwrite; wide characters count as two columns.
    """
    if "\r" not in line:
        return line
    segments = line.split("\r")
    # Drop trailing empty segments (CRLF, or a progress bar that ends on "\r").
    while len(segments) > 1 and segments[-1] == "":
        segments.pop()
    if len(segments) == 1:
        return segments[0]
    # Fast path: the last state covers every earlier one (the usual progress bar).
    # Escapes drawn earlier still set the terminal's state, so they are kept in front.
    last = segments[-1]
    last_width = _visible_width(last)
    if all(_visible_width(s) <= last_width for s in segments[:-1]):
        earlier = "".join(_ESCAPES_RE.findall("".join(segments[:-1])))
        return earlier + last

    # cells[i] is the text drawn at column i (escapes prefixed), or "" for the right
    # half of a wide character.
    cells: list[str] = []
    trailer = ""
    for segment in segments:
        col = 0
        pending = ""
        overwritten = ""
        # split() with a capturing group alternates text, escape, text, escape, ...
        for index, token in enumerate(_TOKEN_RE.split(segment)):
            if index % 2:
                pending += token
                continue
            for char in token:
                width = _char_width(char)
                if width == 0:
                    pending += char
                    continue
                overwritten += _put(cells, col, pending + char, width)
                pending = ""
                col += width
        if overwritten and col < len(cells):
            # The cells left standing were drawn in the state the overwritten escapes set.
            cells[col] = overwritten + pending + cells[col]
        elif pending:
            trailer = pending
    return "".join(cells) + trailer


def _put(cells: list[str], col: int, drawn: str, width: int) -> str:
    """Draw *drawn* at *col*; return the escapes of what it overwrote."""
    end = col + width
    while len(cells) < end:
        cells.append(" ")
    lost = "".join(_ESCAPES_RE.findall(cells[col]))
    if width == 2:
        lost += "".join(_ESCAPES_RE.findall(cells[col + 1]))
    # Overwriting half of a wide character blanks its other half, as terminals do.
    if cells[col] == "" and col > 0:
        cells[col - 1] = " "
    last = end - 1
    if last + 1 < len(cells) and cells[last + 1] == "":
        cells[last + 1] = " "
    cells[col] = drawn
    if width == 2:
        cells[col + 1] = ""
    return lost


def _visible_width(segment: str) -> int:
    if "\x1b" in segment:
        segment = _ESCAPES_RE.sub("", segment)
    return text_width(segment)


# --- SGR ----------------------------------------------------------------------------------


def _parse_sgr(params: str) -> SgrParams:
    if not params:
        return (0,)
    values: list[int] = []
    for part in params.split(";"):
        if ":" in part:
            # ITU T.416 colon forms: 38:2::r:g:b (colour-space id empty), 38:5:n, 4:3.
            sub = part.split(":")
            head = sub[0]
            if head in ("38", "48", "58") and len(sub) >= 3:
                if sub[1] == "2" and len(sub) >= 6:
                    sub = [head, "2", *sub[-3:]]
                values.extend(int(x) if x.isdigit() else 0 for x in sub)
            else:
                values.append(int(head) if head.isdigit() else 0)
            continue
        values.append(int(part) if part.isdigit() else 0)
    return tuple(values)


def _keep_sgr(match: re.Match[str]) -> str:
    token = match.group()
    if _SGR_RE.fullmatch(token):
        return token
    return ""


def split_sgr(text: str) -> list[tuple[str, SgrParams | None]]:
    """Split a log line into text pieces, each with the SGR sequence that precedes it.

    Returns ``[(text, params_or_None), ...]``: ``params`` are the numeric parameters of
    the SGR sequence seen just before ``text`` (``None`` when no SGR came between this
    piece and the previous one). Every other escape is removed; control characters in the
    text are made visible and TABs expanded across pieces. A line ending in an SGR
    sequence yields a final ``("", params)``. The text should have had its carriage
    returns collapsed (:func:`collapse_cr`) first.
    """
    if _NEEDS_WORK_RE.search(text) is None:
        return [(text, None)]
    if _ESC_OR_C1_RE.search(text) is not None:
        text = _ESCAPES_RE.sub(_keep_sgr, text)
    pieces: list[tuple[str, SgrParams | None]] = []
    column = 0
    position = 0
    params: SgrParams | None = None
    for match in _SGR_RE.finditer(text):
        chunk = text[position : match.start()]
        if chunk or params is not None:
            shown = expand_tabs(visible_controls(chunk), column)
            column += text_width(shown)
            if shown or params is not None:
                pieces.append((shown, params))
        params = _parse_sgr(match.group(1))
        position = match.end()
    chunk = text[position:]
    shown = expand_tabs(visible_controls(chunk), column)
    if shown or params is not None or not pieces:
        pieces.append((shown, params))
    return pieces
