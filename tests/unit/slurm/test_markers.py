"""Markers: every nasty name survives splitting."""

from __future__ import annotations

from core.slurm.markers import Marker

NASTY = [
    "pipe|name",
    "line1\nline2",
    "tab\there",
    "\x1b[31mred\x1b[0m",
    "名字",
    "$(touch /tmp/x)",
    "",
    "#Sdeadbeefdeadbeef F#",
]


def test_markers_are_fresh() -> None:
    assert Marker.new() != Marker.new()
    marker = Marker.new()
    assert marker.field != marker.record
    for char in "%,:| \n":
        assert char not in marker.field
        assert char not in marker.record


def test_format_joins_and_terminates() -> None:
    marker = Marker("00")
    assert marker.format(["%i", "%j"]) == f"%i{marker.field}%j{marker.record}"


def test_records_round_trip() -> None:
    marker = Marker.new()
    text = "".join(f"{i}{marker.field}{name}{marker.record}\n" for i, name in enumerate(NASTY))
    records = marker.records(text, 2)
    assert [r[1] for r in records] == NASTY
    assert [r[0] for r in records] == [str(i) for i in range(len(NASTY))]


def test_records_skip_wrong_width() -> None:
    marker = Marker.new()
    text = f"a{marker.field}b{marker.record}\nonly{marker.record}\n"
    assert marker.records(text, 2) == [["a", "b"]]


def test_delimited_records_survive_newlines() -> None:
    marker = Marker.new()
    sep = marker.field
    text = "".join(f"{i}{sep}{name}{sep}\n" for i, name in enumerate(NASTY))
    records = marker.delimited_records(text, 2)
    assert [r[1] for r in records] == NASTY
    assert [r[0] for r in records] == [str(i) for i in range(len(NASTY))]


def test_delimited_name_ending_in_newline() -> None:
    marker = Marker.new()
    sep = marker.field
    text = f"1{sep}ends\n{sep}\n2{sep}x{sep}\n"
    assert marker.delimited_records(text, 2) == [["1", "ends\n"], ["2", "x"]]


def test_delimited_names_starting_with_newline_anywhere() -> None:
    marker = Marker.new()
    sep = marker.field
    rows = [["1", "\nfirst\n"], ["2", "\n\nsecond"], ["3", ""], ["4", "\n"]]
    text = "".join("".join(f"{f}{sep}" for f in row) + "\n" for row in rows)
    assert marker.delimited_records(text, 2) == rows


def test_delimited_empty_and_truncated() -> None:
    marker = Marker.new()
    sep = marker.field
    assert marker.delimited_records("", 2) == []
    assert marker.delimited_records(f"a{sep}b{sep}\nc{sep}", 2) == [["a", "b"]]


def test_noise_before_the_first_record_is_dropped() -> None:
    marker = Marker.new()
    text = f"Welcome to the cluster!\n\n7{marker.field}x{marker.record}\n"
    assert marker.records(text, 2) == [["7", "x"]]
    sep = marker.field
    text = f"motd line\n7{sep}a\nb{sep}\n8{sep}c{sep}\n"
    assert marker.delimited_records(text, 2) == [["7", "a\nb"], ["8", "c"]]
