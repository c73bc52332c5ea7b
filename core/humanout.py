"""Plain-text renderings of core records for the command line (the ``--json`` twin is jsonout).

Remote text passes through ``clean_line`` so a job name cannot move the cursor or colour a
terminal; columns are measured in terminal cells so CJK names stay aligned.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import humanize

from core.safetext import clean_line
from core.slurm.models import (
    CancelOutcome,
    Efficiency,
    HistoryRecord,
    Job,
    JobDetail,
    Partition,
)
from core.slurm.units import format_duration


def cells(text: str) -> int:
    """Width of ``text`` in terminal cells (wide East Asian characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells (with an ellipsis) and padded to exactly that width."""
    if cells(text) > width:
        out, used = [], 0
        for ch in text:
            w = cells(ch)
            if used + w > width - 1:
                break
            out.append(ch)
            used += w
        text = "".join(out) + "…"
    return text + " " * (width - cells(text))


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, flex: int = -1) -> str:
    """Columns sized to their content; column ``flex`` is capped at 40 cells."""
    body = [[clean_line(c) for c in row] for row in rows]
    widths = [cells(h) for h in headers]
    for row in body:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], cells(c))
    if flex >= 0:
        widths[flex] = min(widths[flex], 40)
    lines = ["  ".join(fit(h, w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(fit(c, w) for c, w in zip(row, widths, strict=True)).rstrip() for row in body
    ]
    return "\n".join(lines)


def duration(value: int | float | timedelta | None) -> str:
    """Seconds as Slurm writes them (``1-02:03:04``), ``UNLIMITED`` for None."""
    if value is None:
        return "UNLIMITED"
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    return format_duration(max(int(seconds), 0))


def when(value: datetime | None, *, now: datetime | None = None) -> str:
    """A local timestamp plus how long ago or ahead it is."""
    if value is None:
        return "-"
    now = now or datetime.now(UTC)
    local = value.astimezone().strftime("%Y-%m-%d %H:%M")
    return f"{local} ({humanize.naturaltime(value, when=now)})"


def size(num_bytes: int | float | None) -> str:
    return "-" if num_bytes is None else humanize.naturalsize(num_bytes, binary=True)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def jobs(items: Sequence[Job], *, show_user: bool = False) -> str:
    if not items:
        return "No jobs."
    headers = [
        "JOBID",
        "NAME",
        *(["USER"] if show_user else []),
        "PARTITION",
        "STATE",
        "ELAPSED",
        "LIMIT",
        "NODES",
        "REASON/NODELIST",
    ]
    rows = [
        [
            j.job_id,
            j.name,
            *([j.user] if show_user else []),
            j.partition,
            j.state.value,
            duration(j.elapsed or 0),
            duration(j.time_limit),
            str(j.num_nodes),
            j.nodelist if j.state.value == "RUNNING" else j.reason,
        ]
        for j in items
    ]
    return table(headers, rows, flex=1)


def partitions(items: Sequence[Partition]) -> str:
    headers = [
        "GROUP",
        "PARTITION",
        "STATE",
        "NODES",
        "CPUS A/I/T",
        "GPUS U/T",
        "MEM/NODE",
        "LIMIT",
    ]
    rows = [
        [
            p.group,
            p.name + ("*" if p.is_default else ""),
            p.state,
            " ".join(f"{n} {s}" for s, n in sorted(p.nodes_by_state.items())) or "0",
            f"{p.cpus_alloc}/{p.cpus_idle}/{p.cpus_total}",
            f"{p.gpus_used}/{p.gpus_total}" if p.gpus_total else "-",
            size(p.memory_mb * 1024 * 1024),
            duration(p.time_limit),
        ]
        for p in sorted(items, key=lambda p: (p.group, p.name))
    ]
    return table(headers, rows)


def history(items: Sequence[HistoryRecord]) -> str:
    if not items:
        return "No jobs in this range."
    headers = ["JOBID", "NAME", "PARTITION", "STATE", "EXIT", "START", "ELAPSED", "NODES"]
    rows = [
        [
            r.job_id,
            r.name,
            r.partition,
            r.state.value,
            r.exit_code,
            r.start_time.astimezone().strftime("%m-%d %H:%M") if r.start_time else "-",
            duration(r.elapsed or 0),
            r.nodelist,
        ]
        for r in items
    ]
    return table(headers, rows, flex=1)


def pairs(items: Iterable[tuple[str, Any]]) -> str:
    rows = [(k, clean_line(str(v))) for k, v in items if v not in (None, "")]
    width = max((len(k) for k, _ in rows), default=0)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def job_detail(job: JobDetail | HistoryRecord) -> str:
    from core.slurm.reasons import explain_reason as explain

    common: list[tuple[str, Any]] = [
        ("Job", job.job_id),
        ("Name", job.name),
        ("User", job.user),
        ("Account", job.account),
        ("Partition", job.partition),
        ("State", job.state.value),
    ]
    if isinstance(job, JobDetail):
        if job.state.value == "PENDING":
            common.append(("Reason", f"{job.reason}: {explain(job.reason)}"))
        common += [
            ("Submitted", when(job.submit_time)),
            ("Started", when(job.start_time)),
            ("Ends", when(job.end_time)),
            ("Time limit", duration(job.time_limit)),
            ("Run time", duration(job.run_time)),
            ("Nodes", f"{job.num_nodes} {job.nodelist}"),
            ("CPUs", job.num_cpus),
            ("TRES", job.tres),
            ("Dependency", job.dependency),
            ("Work dir", job.work_dir),
            ("Stdout", job.stdout),
            ("Stderr", job.stderr),
            ("Exit code", job.exit_code),
        ]
    else:
        common += [
            ("Submitted", when(job.submit_time)),
            ("Started", when(job.start_time)),
            ("Ended", when(job.end_time)),
            ("Elapsed", duration(job.elapsed)),
            ("Time limit", duration(job.time_limit)),
            ("Nodes", f"{job.num_nodes} {job.nodelist}"),
            ("CPUs", job.num_cpus),
            ("Work dir", job.work_dir),
            ("Exit code", job.exit_code),
        ]
    return pairs(common)


def efficiency(eff: Efficiency) -> str:
    return pairs(
        [
            ("Job", eff.job_id),
            ("State", eff.state.value),
            ("Elapsed", duration(eff.elapsed)),
            ("CPUs", eff.alloc_cpus),
            ("CPU time", duration(int(eff.total_cpu_seconds))),
            ("CPU efficiency", percent(eff.cpu_efficiency)),
            ("Max RSS", size(eff.max_rss_mb * 1048576) if eff.max_rss_mb is not None else None),
            (
                "Memory requested",
                size(eff.requested_mem_mb * 1048576) if eff.requested_mem_mb else None,
            ),
            ("Memory efficiency", percent(eff.memory_efficiency)),
            ("GPUs", eff.gpus or None),
            ("GPU efficiency", percent(eff.gpu_efficiency) if eff.gpus else None),
        ]
    )


def cancel_outcomes(items: Sequence[CancelOutcome]) -> str:
    return "\n".join(
        f"{o.job_id}: {'cancelled' if o.cancelled else 'NOT cancelled'}"
        + (f" ({o.message})" if o.message else "")
        for o in items
    )


def certificate(info: Any) -> str:
    return pairs(
        [
            ("Key id", info.key_id),
            ("Principals", ", ".join(info.principals)),
            ("Valid from", when(info.valid_after)),
            ("Valid until", when(info.valid_before)),
            ("Remaining", duration(info.remaining()) if not info.expired else "expired"),
        ]
    )


def user(info: Mapping[str, Any]) -> str:
    return pairs((str(k), v) for k, v in info.items() if not isinstance(v, dict | list))


def local_time(epoch: int | float | None) -> str:
    """A POSIX time as a local ``YYYY-MM-DD HH:MM``."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).astimezone().strftime("%Y-%m-%d %H:%M")


def fields(record: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, for ``pairs``."""
    import dataclasses

    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    return dict(record)
