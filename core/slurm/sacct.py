"""Accounting: finished jobs, their efficiency and their batch scripts (``sacct``).

sacct's ``-P`` ends a record at a newline, which a job name may contain. Here sacct runs
with ``-p`` (a delimiter after *every* field, the last one included) and a per-call
random delimiter, so a record ends at ``<delimiter>\\n`` and nothing a user wrote can
look like that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from core.errors import NotFound
from core.runner import CommandRunner
from core.slurm.common import command_error, run_slurm, safe_group
from core.slurm.markers import Marker
from core.slurm.models import Efficiency, HistoryRecord, JobState
from core.slurm.units import (
    format_timestamp,
    parse_cpu_time,
    parse_int,
    parse_memory,
    parse_minutes,
    parse_req_mem,
    parse_timestamp,
    parse_tres,
    tres_gpus,
)

HISTORY_FIELDS: tuple[str, ...] = (
    "JobID",
    "JobIDRaw",
    "JobName",
    "User",
    "Account",
    "Partition",
    "State",
    "ExitCode",
    "Submit",
    "Start",
    "End",
    "ElapsedRaw",
    "TimelimitRaw",
    "NNodes",
    "AllocCPUS",
    "NodeList",
    "WorkDir",
    "SubmitLine",
)

EFFICIENCY_FIELDS: tuple[str, ...] = (
    "JobID",
    "State",
    "ElapsedRaw",
    "AllocCPUS",
    "NNodes",
    "TotalCPU",
    "CPUTimeRAW",
    "MaxRSS",
    "ReqMem",
    "AllocTRES",
    "TRESUsageInAve",
)


def _sacct_base(marker: Marker, fields: Sequence[str]) -> list[str]:
    return ["sacct", "-n", "-p", f"--delimiter={marker.field}", "-o", ",".join(fields)]


def history_argv(
    marker: Marker,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    user: str | None = None,
    all_users: bool = False,
    states: Sequence[str] = (),
    name: str | None = None,
    job_ids: Sequence[str] = (),
    tz: tzinfo | None = None,
) -> list[str]:
    """``sacct -X -n -p --delimiter=<marker> -o ...`` for allocations (steps left out)."""
    argv = [*_sacct_base(marker, HISTORY_FIELDS), "-X"]
    if start is not None:
        argv.append(f"--starttime={format_timestamp(start, tz)}")
    if end is not None:
        argv.append(f"--endtime={format_timestamp(end, tz)}")
    elif start is not None:
        # With --state and no end, sacct 22.05 ends the window at its start: empty.
        argv.append("--endtime=now")
    if all_users:
        argv.append("--allusers")
    elif user:
        argv.append(f"--user={user}")
    if states:
        argv.append(f"--state={','.join(states)}")
    if name:
        argv.append(f"--name={name}")
    if job_ids:
        argv.append(f"--jobs={','.join(job_ids)}")
    return argv


def parse_history(
    text: str,
    marker: Marker,
    *,
    cluster: str,
    group_of: Callable[[str], str],
    tz: tzinfo | None = None,
) -> list[HistoryRecord]:
    """History records from :func:`history_argv` output made with the same ``marker``."""
    out: list[HistoryRecord] = []
    for record in marker.delimited_records(text, len(HISTORY_FIELDS)):
        row = dict(zip(HISTORY_FIELDS, record, strict=True))
        partition = row["Partition"]
        out.append(
            HistoryRecord(
                job_id=row["JobID"],
                name=row["JobName"],
                user=row["User"],
                account=row["Account"],
                partition=partition,
                state=JobState.parse(row["State"]),
                exit_code=row["ExitCode"],
                submit_time=parse_timestamp(row["Submit"], tz),
                start_time=parse_timestamp(row["Start"], tz),
                end_time=parse_timestamp(row["End"], tz),
                elapsed=parse_int(row["ElapsedRaw"]) if row["ElapsedRaw"] else None,
                time_limit=parse_minutes(row["TimelimitRaw"]),
                num_nodes=parse_int(row["NNodes"]),
                num_cpus=parse_int(row["AllocCPUS"]),
                nodelist=_null(row["NodeList"]),
                work_dir=row["WorkDir"],
                submit_line=row["SubmitLine"],
                cluster=cluster,
                group=safe_group(group_of, partition, cluster),
                job_id_raw=row["JobIDRaw"],
            )
        )
    return out


def _null(value: str) -> str:
    return "" if value in ("None assigned", "(null)", "N/A") else value


async def history(
    runner: CommandRunner,
    *,
    cluster: str,
    group_of: Callable[[str], str],
    start: datetime,
    end: datetime | None = None,
    user: str | None = None,
    all_users: bool = False,
    states: Sequence[str] = (),
    name: str | None = None,
    tz: tzinfo | None = None,
) -> list[HistoryRecord]:
    """Allocations between ``start`` and ``end`` (now if None), ``user``'s by default."""
    marker = Marker.new()
    argv = history_argv(
        marker,
        start=start,
        end=end,
        user=user,
        all_users=all_users,
        states=states,
        name=name,
        tz=tz,
    )
    result = await run_slurm(runner, argv)
    if not result.ok:
        raise command_error(result, "Reading the job history")
    return parse_history(result.stdout, marker, cluster=cluster, group_of=group_of, tz=tz)


async def job_record(
    runner: CommandRunner,
    job_id: str,
    *,
    cluster: str,
    group_of: Callable[[str], str],
    tz: tzinfo | None = None,
) -> HistoryRecord:
    """The accounting record of one job; NotFound when accounting has none.

    sacct does not list jobs that are not yet eligible (held, waiting on a dependency or
    a ``--begin`` time): ask squeue/scontrol for those.
    """
    marker = Marker.new()
    result = await run_slurm(runner, history_argv(marker, job_ids=[job_id]))
    if not result.ok:
        raise command_error(result, f"Reading the accounting of job {job_id}")
    records = parse_history(result.stdout, marker, cluster=cluster, group_of=group_of, tz=tz)
    for record in records:
        if record.job_id == job_id:
            return record
    if records and "_" not in job_id:
        # An array master id: sacct lists its tasks; the first stands for the array.
        return records[0]
    raise NotFound(f"Job {job_id} is not in the accounting of {cluster}.")


def efficiency_argv(marker: Marker, job_id: str) -> list[str]:
    """``sacct -n -p --delimiter=<marker> -o ... -j ID``: the job and all its steps."""
    return [*_sacct_base(marker, EFFICIENCY_FIELDS), f"--jobs={job_id}"]


@dataclass(frozen=True, slots=True)
class _Usage:
    job_id: str
    state: str
    elapsed: int
    alloc_cpus: int
    nodes: int
    total_cpu: float
    cpu_time: int
    max_rss: float | None
    req_mem: str
    alloc_tres: dict[str, str]
    usage_ave: dict[str, str]


def _usage(row: dict[str, str]) -> _Usage:
    return _Usage(
        job_id=row["JobID"],
        state=row["State"],
        elapsed=parse_int(row["ElapsedRaw"]),
        alloc_cpus=parse_int(row["AllocCPUS"]),
        nodes=parse_int(row["NNodes"]),
        total_cpu=parse_cpu_time(row["TotalCPU"]) or 0.0,
        cpu_time=parse_int(row["CPUTimeRAW"]),
        # sacct prints MaxRSS with a unit (K mostly); a bare number is bytes.
        max_rss=parse_memory(row["MaxRSS"], default_unit="B") if row["MaxRSS"] else None,
        req_mem=row["ReqMem"],
        alloc_tres=parse_tres(row["AllocTRES"]),
        usage_ave=parse_tres(row["TRESUsageInAve"]),
    )


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _requested_mem(job: _Usage) -> float | None:
    """MiB the allocation holds: AllocTRES ``mem``, else ReqMem scaled by its suffix."""
    if "mem" in job.alloc_tres:
        return parse_memory(job.alloc_tres["mem"])
    parsed = parse_req_mem(job.req_mem)
    if parsed is None:
        return None
    mib, scope = parsed
    if scope == "cpu":
        return mib * max(job.alloc_cpus, 1)
    if scope == "node":
        return mib * max(job.nodes, 1)
    return mib


def fold_efficiency(rows: list[dict[str, str]], job_id: str) -> Efficiency:
    """Efficiency of ``job_id`` from its allocation row and step rows (sacct, no ``-X``).

    CPU: TotalCPU / (Elapsed × AllocCPUS). Memory: the largest step MaxRSS over the
    allocated memory. GPU: only where the cluster records ``gres/gpuutil``, else None.
    """
    usages = [_usage(row) for row in rows]
    job = next((u for u in usages if u.job_id == job_id), None)
    if job is None:
        job = next((u for u in usages if "." not in u.job_id), None)
    if job is None:
        raise NotFound(f"Job {job_id} is not in the accounting.")
    steps = [u for u in usages if u.job_id.startswith(f"{job.job_id}.")]
    # The allocation row already sums its steps on most versions; taking the larger of
    # the two never counts a step twice and still works where the row is zero.
    total_cpu = max(job.total_cpu, sum(step.total_cpu for step in steps))
    cpu_time = job.cpu_time or job.elapsed * job.alloc_cpus
    cpu_eff = min(total_cpu / cpu_time, 1.0) if cpu_time > 0 else None
    rss_values = [s.max_rss for s in steps if s.max_rss is not None]
    if job.max_rss is not None:
        rss_values.append(job.max_rss)
    max_rss = max(rss_values) if rss_values else None
    requested = _requested_mem(job)
    mem_eff = max_rss / requested if max_rss is not None and requested else None
    gpus = tres_gpus(job.alloc_tres)
    util_values = [
        _float(s.usage_ave["gres/gpuutil"]) for s in steps if "gres/gpuutil" in s.usage_ave
    ]
    gpu_eff = None
    if gpus and util_values:
        # gpuutil is a percentage summed over the GPUs a step used.
        gpu_eff = min(max(util_values) / (100.0 * gpus), 1.0)
    return Efficiency(
        job_id=job.job_id,
        state=JobState.parse(job.state),
        elapsed=job.elapsed,
        alloc_cpus=job.alloc_cpus,
        total_cpu_seconds=total_cpu,
        cpu_efficiency=cpu_eff,
        max_rss_mb=max_rss,
        requested_mem_mb=requested,
        memory_efficiency=mem_eff,
        gpus=gpus,
        gpu_efficiency=gpu_eff,
    )


def parse_efficiency(text: str, marker: Marker, job_id: str) -> Efficiency:
    """Efficiency from :func:`efficiency_argv` output made with the same ``marker``."""
    width = len(EFFICIENCY_FIELDS)
    rows = [
        dict(zip(EFFICIENCY_FIELDS, record, strict=True))
        for record in marker.delimited_records(text, width)
    ]
    return fold_efficiency(rows, job_id)


async def efficiency(runner: CommandRunner, job_id: str) -> Efficiency:
    """CPU, memory and GPU efficiency of a job from accounting; NotFound if none."""
    marker = Marker.new()
    result = await run_slurm(runner, efficiency_argv(marker, job_id))
    if not result.ok:
        raise command_error(result, f"Reading the accounting of job {job_id}")
    return parse_efficiency(result.stdout, marker, job_id)


def batch_script_argv(job_id: str) -> list[str]:
    """``sacct --batch-script -j ID`` (needs AccountingStoreFlags=job_script)."""
    return ["sacct", "--batch-script", f"--jobs={job_id}"]


_SCRIPT_HEADER = "Batch Script for "


def parse_batch_script(text: str) -> str | None:
    """The script from ``sacct --batch-script`` output; None when none was stored."""
    if not text.startswith(_SCRIPT_HEADER):
        return None
    lines = text.split("\n", 2)
    if len(lines) < 3 or not set(lines[1].strip()) <= {"-"}:
        return None
    script = lines[2]
    if script.strip() in ("", "NONE", "None"):
        return None
    # sacct prints the stored script followed by a newline of its own.
    return script[:-1] if script.endswith("\n") else script


async def batch_script(runner: CommandRunner, job_id: str) -> str | None:
    """The batch script accounting kept for a job, or None if it kept none."""
    result = await run_slurm(runner, batch_script_argv(job_id))
    if not result.ok:
        raise command_error(result, f"Reading the batch script of job {job_id}")
    return parse_batch_script(result.stdout)
