"""Slurm's units: durations, timestamps, memory sizes, TRES and gres strings.

Every parser here is total: text Slurm uses for "none" or "unknown" becomes ``None`` (or
0 for counts) instead of an exception, because one odd field must not lose a whole queue.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

#: Words Slurm prints where a duration or time has no value.
_NO_VALUE = frozenset(
    {
        "",
        "UNLIMITED",
        "INFINITE",
        "INVALID",
        "PARTITION_LIMIT",
        "N/A",
        "NOT_SET",
        "NONE",
        "UNKNOWN",
        "(NULL)",
    }
)

_DURATION = re.compile(r"^(?:(\d+)-)?(\d+(?:\.\d+)?(?::\d+(?:\.\d+)?){0,2})$")


def parse_duration(text: str) -> int | None:
    """Seconds from a Slurm time: ``1-02:03:04``, ``02:03:04``, ``03:04``, ``5``, ``1-02``.

    Slurm's conventions: a bare number is minutes, ``A:B`` is minutes:seconds,
    ``A:B:C`` hours:minutes:seconds, and ``D-A`` days-hours. ``UNLIMITED``, ``INVALID``,
    ``Partition_Limit``, ``N/A`` and friends are None.
    """
    value = parse_cpu_time(text)
    return None if value is None else int(value)


def parse_cpu_time(text: str) -> float | None:
    """Seconds (with fractions) from a Slurm time, e.g. sacct's TotalCPU ``00:01.234``."""
    text = text.strip()
    if text.upper() in _NO_VALUE:
        return None
    match = _DURATION.match(text)
    if match is None:
        return None
    days_s, clock = match.groups()
    parts = [float(p) for p in clock.split(":")]
    if days_s is not None:
        # After "D-" the first part is hours: D-H, D-H:M, D-H:M:S.
        parts += [0.0] * (3 - len(parts))
        hours, minutes, seconds = parts
        return int(days_s) * 86400 + hours * 3600 + minutes * 60 + seconds
    if len(parts) == 3:
        hours, minutes, seconds = parts
    elif len(parts) == 2:
        hours, (minutes, seconds) = 0.0, parts
    else:
        hours, minutes, seconds = 0.0, parts[0], 0.0
    return hours * 3600 + minutes * 60 + seconds


def parse_minutes(text: str) -> int | None:
    """Seconds from a count of minutes (sacct's TimelimitRaw); words become None."""
    text = text.strip()
    if not text.isdigit():
        return None
    return int(text) * 60


def format_duration(
    seconds: int | float | None, *, unknown: str = "UNLIMITED", compact: bool = False
) -> str:
    """A duration written as squeue writes it: ``1-02:03:04``, ``2:03:04``, ``3:04``.

    The inverse of :func:`parse_duration`. None or a negative value gives ``unknown``;
    ``compact`` drops the seconds of durations of a day or more (narrow table columns).
    This is the one duration formatter of the project: the CLI, the TUI and the job table
    all call it.
    """
    if seconds is None or seconds < 0:
        return unknown
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        clock = f"{hours:02d}:{minutes:02d}" + ("" if compact else f":{secs:02d}")
        return f"{days}-{clock}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def parse_timestamp(text: str, tz: tzinfo | None = None) -> datetime | None:
    """An aware UTC datetime from Slurm's ``2026-11-29T12:00:00``.

    Slurm prints the cluster's local time without an offset; ``tz`` says which zone that
    is (default: this machine's local zone). ``Unknown``, ``None``, ``N/A`` → None.
    """
    text = text.strip()
    if text.upper() in _NO_VALUE:
        return None
    try:
        naive = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    # A naive datetime's astimezone() reads it as local time, which is what Slurm printed.
    local = naive.astimezone() if tz is None else naive.replace(tzinfo=tz)
    return local.astimezone(UTC)


def format_timestamp(moment: datetime, tz: tzinfo | None = None) -> str:
    """A time for Slurm's ``-S``/``-E``/``--begin`` options, in the cluster's local time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(tz) if tz is not None else moment.astimezone()
    return local.strftime("%Y-%m-%dT%H:%M:%S")


_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)([cn]?)$", re.IGNORECASE)
_FACTORS = {"B": 1 / 1024**2, "K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0**2, "P": 1024.0**3}


def parse_req_mem(text: str, default_unit: str = "M") -> tuple[float, str | None] | None:
    """MiB and its scope from ``4000M``, ``1.5G``, ``4000Mc`` (per CPU), ``4000Mn`` (per node).

    Scope is ``"cpu"``, ``"node"`` or None when Slurm did not say. A number without a unit
    is in ``default_unit`` (sinfo's %m and sacct's ReqMem print MiB; ``B`` for bytes).
    """
    text = text.strip()
    match = _MEMORY.match(text)
    if match is None:
        return None
    number, unit, scope = match.groups()
    factor = _FACTORS[(unit or default_unit).upper()]
    mib = float(number) * factor
    return mib, {"c": "cpu", "n": "node"}.get(scope.lower())


def parse_memory(text: str, default_unit: str = "M") -> float | None:
    """MiB from a Slurm memory size (``4000M``, ``1.5G``, ``1234K``); None for no value."""
    parsed = parse_req_mem(text, default_unit)
    return None if parsed is None else parsed[0]


def parse_tres(text: str) -> dict[str, str]:
    """``cpu=4,mem=4000M,node=1,gres/gpu=4`` → ``{"cpu": "4", "mem": "4000M", ...}``."""
    out: dict[str, str] = {}
    for item in text.strip().split(","):
        key, sep, value = item.partition("=")
        if sep and key:
            out[key.strip()] = value.strip()
    return out


def tres_gpus(tres: dict[str, str]) -> int:
    """GPUs in a TRES dict: ``gres/gpu`` if present, else the sum of the typed entries.

    Slurm lists both ``gres/gpu=4`` and ``gres/gpu:a100=4`` for the same four GPUs, so
    the untyped total wins and typed ones are only added up when it is missing.
    """
    if "gres/gpu" in tres:
        return _int(tres["gres/gpu"])
    return sum(_int(v) for k, v in tres.items() if k.startswith("gres/gpu:"))


_GRES_ITEM = re.compile(r"^(?:gres[:/])?gpu(?::([^:(]+))?(?::(\d+)[KMG]?)?(?:\((.*)\))?$")


def split_gres(text: str) -> list[str]:
    """Split a gres list on the commas that are not inside ``( )``."""
    items: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def parse_gres_gpus(text: str) -> int:
    """GPUs in a gres string: ``gpu:a100:4`` → 4, ``gpu:a100:2(IDX:0-1)`` → 2, ``gpu:1``.

    ``(null)``, ``N/A`` and non-GPU gres count 0. A typed count without a number (``gpu``,
    ``gpu:a100``) means one, as in ``--gres=gpu``.
    """
    total = 0
    for item in split_gres(text):
        match = _GRES_ITEM.match(item)
        if match is None:
            continue
        gres_type, count, _detail = match.groups()
        if count is None and gres_type is not None and gres_type.isdigit():
            # "gpu:4": the second part is a count, not a type.
            count = gres_type
        total += int(count) if count is not None else 1
    return total


def parse_cpu_states(text: str) -> tuple[int, int, int, int]:
    """sinfo's ``%C`` / CPUsState ``allocated/idle/other/total`` → four ints (0 if odd)."""
    parts = text.strip().split("/")
    if len(parts) != 4:
        return (0, 0, 0, 0)
    a, i, o, t = (_int(p) for p in parts)
    return (a, i, o, t)


def _int(text: str) -> int:
    """An int, or 0 for anything Slurm prints where a count has no value."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        try:
            return int(float(text))
        except ValueError:
            return 0


def parse_int(text: str) -> int:
    """A count from Slurm, 0 for ``N/A`` and other words."""
    return _int(text)
