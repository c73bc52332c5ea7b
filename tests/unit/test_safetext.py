"""Remote text made safe: escapes removed or kept (SGR only), controls visible, CR collapsed."""

from __future__ import annotations

import time

import pytest

from core.safetext import (
    clean_line,
    collapse_cr,
    expand_tabs,
    split_sgr,
    strip_escapes,
    text_width,
    visible_controls,
)

ESC = "\x1b"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain job", "plain job"),
        ("[bold]x[/]", "[bold]x[/]"),
        (f"{ESC}[2Jwiped", "wiped"),
        (f"a{ESC}[31mred{ESC}[0m", "ared"),
        (f"{ESC}]0;pwned title\x07after", "after"),
        (f"{ESC}]8;;http://x{ESC}\\link{ESC}]8;;{ESC}\\", "link"),
        (f"{ESC}P1$r0m{ESC}\\dcs", "dcs"),
        (f"{ESC}_apc payload{ESC}\\ok", "ok"),
        (f"{ESC}7saved{ESC}8", "saved"),
        (f"{ESC}(Bcharset", "charset"),
        (f"lone{ESC}", "lone"),
        (f"{ESC}[12", ""),
        ("\x9b31mC1 CSI", "C1 CSI"),
        ("bell\x07", "bell^G"),
        ("cr\rlf\n", "cr^Mlf^J"),
        ("nul\x00del\x7f", "nul^@del^?"),
        ("c1\x85", "c1<85>"),
        ("bidi\u202eevil", "bidi<U+202E>evil"),
        ("训练作业", "训练作业"),
        ("a\tb", "a       b"),
        ("\x07\tx", "^G      x"),
        ("训\tx", "训      x"),
    ],
)
def test_clean_line(raw: str, shown: str) -> None:
    assert clean_line(raw) == shown


def test_clean_line_leaves_nothing_a_terminal_acts_on() -> None:
    nasty = "".join(chr(c) for c in range(0xA0)) + f"{ESC}[2J{ESC}]0;t\x07[red]x[/]"
    shown = clean_line(nasty)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in shown)
    assert shown.endswith("[red]x[/]")


def test_strip_escapes_only_removes_escapes() -> None:
    assert strip_escapes("tab\tbell\x07") == "tab\tbell\x07"
    assert strip_escapes(f"{ESC}[1mbold{ESC}[m") == "bold"


def test_visible_controls_keeps_tabs() -> None:
    assert visible_controls("a\tb\x1b") == "a\tb^["


def test_text_width_and_tabs_count_cells() -> None:
    assert text_width("训练") == 4
    assert text_width("e\u0301") == 1
    assert expand_tabs("ab\tc", column=3) == "ab   c"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("no carriage return", "no carriage return"),
        ("10%\r100%", "100%"),
        ("abcdef\rXY", "XYcdef"),
        ("line\r", "line"),
        ("progress\r\r", "progress"),
        ("\rstart", "start"),
        ("训练作业\rab", "ab练作业"),
        ("训练作业\rabc", "abc 作业"),
        ("ab\r训", "训"),
        ("abc\r训", "训c"),
        ("a\rbb\rc", "cb"),
    ],
)
def test_collapse_cr(raw: str, shown: str) -> None:
    assert collapse_cr(raw) == shown


def test_collapse_cr_keeps_colours() -> None:
    # The usual progress bar: later states cover earlier ones; the SGR state persists.
    assert collapse_cr(f"{ESC}[32m 10%\r{ESC}[32m100%{ESC}[0m") == (
        f"{ESC}[32m{ESC}[32m100%{ESC}[0m"
    )
    # A shorter overwrite keeps the colour of what it overwrote and its own.
    assert collapse_cr(f"{ESC}[31mabcdef{ESC}[0m\r{ESC}[32mXY") == (
        f"{ESC}[32mXY{ESC}[31mcdef{ESC}[0m"
    )


def test_split_sgr_plain_fast_path() -> None:
    assert split_sgr("just text") == [("just text", None)]
    assert split_sgr("") == [("", None)]


def test_split_sgr_keeps_colour_only() -> None:
    pieces = split_sgr(f"a{ESC}[1;31mred{ESC}[0m{ESC}]0;title\x07 b{ESC}[2J{ESC}[m")
    assert pieces == [("a", None), ("red", (1, 31)), (" b", (0,)), ("", (0,))]


def test_split_sgr_colour_forms() -> None:
    assert split_sgr(f"{ESC}[38;5;196mx") == [("x", (38, 5, 196))]
    assert split_sgr(f"{ESC}[38;2;1;2;3mx") == [("x", (38, 2, 1, 2, 3))]
    assert split_sgr(f"{ESC}[38:2::1:2:3mx") == [("x", (38, 2, 1, 2, 3))]
    assert split_sgr(f"{ESC}[38:5:9mx") == [("x", (38, 5, 9))]
    assert split_sgr(f"{ESC}[4:3mx") == [("x", (4,))]
    assert split_sgr(f"{ESC}[1m{ESC}[32mx") == [("", (1,)), ("x", (32,))]


def test_split_sgr_controls_and_tabs() -> None:
    pieces = split_sgr(f"ab{ESC}[31m\tc\x07\rd")
    assert pieces == [("ab", None), ("      c^G^Md", (31,))]
    assert "".join(text for text, _ in pieces) == "ab      c^G^Md"


def test_split_sgr_neutralises_non_sgr_csi() -> None:
    # Cursor movement, erase, scroll region, mode changes: all gone.
    raw = f"{ESC}[H{ESC}[2J{ESC}[10;20r{ESC}[?1049h{ESC}[5Ax{ESC}[31my"
    assert split_sgr(raw) == [("x", None), ("y", (31,))]


def test_speed_on_a_large_log_page() -> None:
    lines = [f"{ESC}[32mINFO{ESC}[0m step {i}\tloss=0.{i:04d} 训练" for i in range(20_000)]
    plain = [f"step {i} loss=0.{i:04d}" for i in range(20_000)]
    started = time.perf_counter()
    for line in lines:
        split_sgr(collapse_cr(line))
    for line in plain:
        clean_line(line)
        split_sgr(line)
    # 40k lines: well under a second even on a slow CI machine (typically ~0.1 s).
    assert time.perf_counter() - started < 2.0
