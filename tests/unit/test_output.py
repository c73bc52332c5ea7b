"""The command line's two renderings: JSON (the contract) and aligned plain text."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

import pytest

from core import humanout
from core.cli import build_parser, parse_since
from core.jsonout import dumps, to_jsonable
from tests.tui.hosts.jobs import make_job

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_json_keeps_cjk_and_types() -> None:
    data = json.loads(dumps([make_job("1001", name="训练作业", submit_time=NOW)]))
    assert data[0]["name"] == "训练作业"
    assert data[0]["state"] == "RUNNING"
    assert data[0]["submit_time"] == "2026-11-29T12:00:00+00:00"
    assert to_jsonable(timedelta(seconds=90)) == 90.0


def test_plain_table_neutralises_escapes_and_aligns_wide_names() -> None:
    nasty = make_job("22", name="a\x1b[2Jb[bold]x[/]")
    text = humanout.jobs([make_job("1", name="训练作业"), nasty])
    assert "\x1b" not in text
    lines = text.splitlines()
    # The STATE column starts at the same cell offset on every row, wide characters included.
    offsets = {humanout.cells(line[: line.index("RUNNING")]) for line in lines[1:]}
    assert len(offsets) == 1
    assert "[bold]x[/]" in text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "UNLIMITED"), (59, "0:59"), (3600, "1:00:00"), (90061, "1-01:01:01")],
)
def test_duration_like_slurm(seconds: int | None, text: str) -> None:
    assert humanout.duration(seconds) == text


def test_parse_since() -> None:
    assert parse_since("7d", now=NOW) == NOW - timedelta(days=7)
    assert parse_since("12h", now=NOW) == NOW - timedelta(hours=12)
    assert parse_since("2026-11-01T08:00+00:00") == datetime(2026, 11, 1, 8, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_since("yesterday-ish")


def test_fit_cuts_on_cell_boundaries() -> None:
    assert humanout.cells(humanout.fit("训练作业训练作业", 7)) == 7
    assert humanout.fit("abc", 5) == "abc  "


def test_every_subcommand_has_help_and_json() -> None:
    parser = build_parser()
    for command in ["jobs", "partitions", "history", "login", "cancel", "ls", "transfers"]:
        args = parser.parse_args(
            [
                command,
                *(["1"] if command == "cancel" else []),
                *(["/lustre"] if command == "ls" else []),
                "--json",
            ]
        )
        assert args.json is True
