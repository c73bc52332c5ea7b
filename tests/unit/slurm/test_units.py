"""Slurm units: durations, timestamps, memory, TRES and gres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.slurm.units import (
    format_duration,
    format_timestamp,
    parse_cpu_states,
    parse_cpu_time,
    parse_duration,
    parse_gres_gpus,
    parse_memory,
    parse_minutes,
    parse_req_mem,
    parse_timestamp,
    parse_tres,
    split_gres,
    tres_gpus,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1-02:03:04", 93784),
        ("02:03:04", 7384),
        ("2:03:04", 7384),
        ("03:04", 184),
        ("0:00", 0),
        ("20", 1200),
        ("1-02", 93600),
        ("1-02:03", 93780),
        ("7-00:00:00", 604800),
        ("UNLIMITED", None),
        ("infinite", None),
        ("INVALID", None),
        ("Partition_Limit", None),
        ("N/A", None),
        ("NOT_SET", None),
        ("", None),
        ("garbage", None),
    ],
)
def test_parse_duration(text: str, seconds: int | None) -> None:
    assert parse_duration(text) == seconds


def test_cpu_time_keeps_fractions() -> None:
    assert parse_cpu_time("00:01.234") == pytest.approx(1.234)
    assert parse_cpu_time("1-00:00:01.5") == pytest.approx(86401.5)
    assert parse_cpu_time("01:02:03") == pytest.approx(3723)


def test_minutes() -> None:
    assert parse_minutes("20") == 1200
    assert parse_minutes("UNLIMITED") is None
    assert parse_minutes("Partition_Limit") is None


@pytest.mark.parametrize("seconds", [0, 59, 61, 3600, 93784, 604800])
def test_format_duration_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_duration_unlimited() -> None:
    assert format_duration(None) == "UNLIMITED"


def test_timestamp_with_zone() -> None:
    shanghai = timezone(timedelta(hours=8))
    moment = parse_timestamp("2026-11-29T12:00:00", shanghai)
    assert moment == datetime(2026, 11, 29, 4, 0, tzinfo=UTC)
    assert moment is not None
    assert moment.tzinfo is UTC


def test_timestamp_local_default_is_aware_utc() -> None:
    moment = parse_timestamp("2026-11-29T12:00:00")
    assert moment is not None
    assert moment.utcoffset() == timedelta(0)
    naive_local = datetime(2026, 11, 29, 12, 0).astimezone()
    assert moment == naive_local


@pytest.mark.parametrize("text", ["Unknown", "None", "N/A", "", "(null)", "not a date"])
def test_timestamp_without_value(text: str) -> None:
    assert parse_timestamp(text) is None


def test_format_timestamp_in_zone() -> None:
    shanghai = timezone(timedelta(hours=8))
    moment = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)
    assert format_timestamp(moment, shanghai) == "2026-11-29T12:00:00"
    assert parse_timestamp(format_timestamp(moment, shanghai), shanghai) == moment


@pytest.mark.parametrize(
    ("text", "mib"),
    [
        ("4000M", 4000.0),
        ("4000", 4000.0),
        ("1.5G", 1536.0),
        ("2T", 2 * 1024 * 1024.0),
        ("1024K", 1.0),
        ("0", 0.0),
        ("", None),
        ("N/A", None),
    ],
)
def test_parse_memory(text: str, mib: float | None) -> None:
    assert parse_memory(text) == mib


def test_memory_bytes_default() -> None:
    assert parse_memory("1048576", default_unit="B") == 1.0
    assert parse_memory("2048K", default_unit="B") == 2.0


def test_req_mem_scope() -> None:
    assert parse_req_mem("4000Mc") == (4000.0, "cpu")
    assert parse_req_mem("4000Mn") == (4000.0, "node")
    assert parse_req_mem("16G") == (16384.0, None)
    assert parse_req_mem("x") is None


def test_tres() -> None:
    tres = parse_tres("cpu=4,mem=4000M,node=1,billing=4,gres/gpu=4,gres/gpu:a100=4")
    assert tres["cpu"] == "4"
    assert tres["mem"] == "4000M"
    assert tres_gpus(tres) == 4
    assert tres_gpus(parse_tres("cpu=1,gres/gpu:a100=2,gres/gpu:v100=1")) == 3
    assert tres_gpus(parse_tres("cpu=1,mem=1G")) == 0
    assert parse_tres("") == {}


@pytest.mark.parametrize(
    ("text", "gpus"),
    [
        ("gpu:a100:4", 4),
        ("gpu:a100:4(S:0-1)", 4),
        ("gpu:a100:2(IDX:0-1)", 2),
        ("gpu:a100:0(IDX:N/A)", 0),
        ("gpu:4", 4),
        ("gpu", 1),
        ("gres:gpu:1", 1),
        ("gres/gpu:2", 2),
        ("gpu:a100:2(IDX:0,2),gpu:v100:1(IDX:0)", 3),
        ("(null)", 0),
        ("N/A", 0),
        ("", 0),
        ("mps:100", 0),
    ],
)
def test_gres_gpus(text: str, gpus: int) -> None:
    assert parse_gres_gpus(text) == gpus


def test_split_gres_keeps_index_lists() -> None:
    assert split_gres("gpu:a:2(IDX:0,2),gpu:b:1") == ["gpu:a:2(IDX:0,2)", "gpu:b:1"]


def test_cpu_states() -> None:
    assert parse_cpu_states("8/32/0/40") == (8, 32, 0, 40)
    assert parse_cpu_states("garbage") == (0, 0, 0, 0)
