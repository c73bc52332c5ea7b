"""The queue: ``squeue`` rows (array tasks expanded) and start estimates.

Every format string ends each field with a fresh :class:`~core.slurm.markers.Marker`, so
job names with ``|``, newlines or escape sequences cannot shift a column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import tzinfo

from core.errors import NotFound
from core.runner import CommandRunner
from core.slurm.common import INVALID_JOB, command_error, run_slurm, safe_group
from core.slurm.markers import Marker
from core.slurm.models import Job, JobState, StartEstimate
from core.slurm.units import parse_duration, parse_int, parse_timestamp

#: (name, squeue -o spec). %F/%K give the array master id and task index without the
#: ``1234_[1-5]`` form of %i that scancel rejects; -r expands pending arrays.
JOB_FIELDS: tuple[tuple[str, str], ...] = (
    ("job_id", "%i"),
    ("array_job_id", "%F"),
    ("array_task_id", "%K"),
    ("name", "%j"),
    ("user", "%u"),
    ("account", "%a"),
    ("partition", "%P"),
    ("state", "%T"),
    ("reason", "%r"),
    ("elapsed", "%M"),
    ("time_limit", "%l"),
    ("num_nodes", "%D"),
    ("num_cpus", "%C"),
    ("nodelist", "%N"),
    ("submit_time", "%V"),
    ("start_time", "%S"),
    ("work_dir", "%Z"),
    ("gres", "%b"),
    ("comment", "%k"),
)

START_FIELDS: tuple[tuple[str, str], ...] = (
    ("job_id", "%i"),
    ("start_time", "%S"),
    ("nodes", "%Y"),
    ("reason", "%r"),
)


def squeue_argv(
    marker: Marker,
    *,
    user: str | None = None,
    partition: str | None = None,
    states: Sequence[str] = (),
    job_ids: Sequence[str] = (),
) -> list[str]:
    """``squeue -h -r -o <marked format>`` with the filters given (None/empty: no filter)."""
    argv = ["squeue", "-h", "-r", "-o", marker.format([spec for _, spec in JOB_FIELDS])]
    if user:
        argv += ["-u", user]
    if partition:
        argv += ["-p", partition]
    if states:
        argv += ["-t", ",".join(states)]
    if job_ids:
        argv += ["-j", ",".join(job_ids)]
    return argv


def _none_if_na(text: str) -> str | None:
    return None if text in ("N/A", "", "(null)") else text


def parse_squeue(
    text: str,
    marker: Marker,
    *,
    cluster: str,
    group_of: Callable[[str], str],
    tz: tzinfo | None = None,
) -> list[Job]:
    """Jobs from the output of :func:`squeue_argv` made with the same ``marker``."""
    jobs: list[Job] = []
    names = [name for name, _ in JOB_FIELDS]
    for record in marker.records(text, len(JOB_FIELDS)):
        row = dict(zip(names, record, strict=True))
        task = _none_if_na(row["array_task_id"])
        job_id = row["job_id"]
        jobs.append(
            Job(
                job_id=job_id,
                array_job_id=row["array_job_id"] if task is not None else None,
                array_task_id=task,
                name=row["name"],
                user=row["user"],
                account=row["account"],
                partition=row["partition"],
                state=JobState.parse(row["state"]),
                reason=row["reason"],
                elapsed=parse_duration(row["elapsed"]),
                time_limit=parse_duration(row["time_limit"]),
                num_nodes=parse_int(row["num_nodes"]),
                num_cpus=parse_int(row["num_cpus"]),
                nodelist=row["nodelist"],
                submit_time=parse_timestamp(row["submit_time"], tz),
                start_time=parse_timestamp(row["start_time"], tz),
                work_dir=row["work_dir"],
                cluster=cluster,
                group=safe_group(group_of, row["partition"], cluster),
                gres=_none_if_na(row["gres"]) or "",
                comment=_none_if_na(row["comment"]) or "",
            )
        )
    return jobs


async def list_jobs(
    runner: CommandRunner,
    *,
    cluster: str,
    group_of: Callable[[str], str],
    user: str | None = None,
    partition: str | None = None,
    states: Sequence[str] = (),
    job_ids: Sequence[str] = (),
    tz: tzinfo | None = None,
) -> list[Job]:
    """The queue of one cluster: ``user``'s jobs, or everyone's when ``user`` is None.

    Asking for job ids the controller no longer knows yields an empty list, not an error.
    """
    marker = Marker.new()
    argv = squeue_argv(marker, user=user, partition=partition, states=states, job_ids=job_ids)
    result = await run_slurm(runner, argv)
    if not result.ok:
        if job_ids and INVALID_JOB in result.stderr:
            return []
        raise command_error(result, "Listing the queue")
    return parse_squeue(result.stdout, marker, cluster=cluster, group_of=group_of, tz=tz)


def start_argv(marker: Marker, job_id: str) -> list[str]:
    """``squeue --start -h -r -j ID -o <marked format>``."""
    spec = marker.format([spec for _, spec in START_FIELDS])
    return ["squeue", "--start", "-h", "-r", "-j", job_id, "-o", spec]


def parse_start(
    text: str, marker: Marker, job_id: str, tz: tzinfo | None = None
) -> StartEstimate | None:
    """The estimate for ``job_id`` from :func:`start_argv` output; None if not pending."""
    for record in marker.records(text, len(START_FIELDS)):
        rid, start, nodes, reason = record
        if job_id in (rid, rid.split("_", 1)[0]):
            return StartEstimate(
                job_id=rid,
                start_time=parse_timestamp(start, tz),
                nodes=_none_if_na(nodes) or "",
                reason=reason,
            )
    return None


async def start_estimate(
    runner: CommandRunner, job_id: str, *, tz: tzinfo | None = None
) -> StartEstimate | None:
    """When Slurm expects a pending job to start; None if it is not pending.

    Raises NotFound when the controller does not know the job at all.
    """
    marker = Marker.new()
    result = await run_slurm(runner, start_argv(marker, job_id))
    if not result.ok:
        if INVALID_JOB in result.stderr:
            raise NotFound(f"Job {job_id} is not in the queue.")
        raise command_error(result, f"Asking when job {job_id} starts")
    return parse_start(result.stdout, marker, job_id, tz)
