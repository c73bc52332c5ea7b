"""Job records for widget tests, snapshots and benchmarks: realistic and nasty ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from core.slurm.models import Job, JobState

_SUBMIT = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def make_job(job_id: str | int, **changes: object) -> Job:
    """A running job on pi with sensible defaults; override any field."""
    text_id = str(job_id)
    job = Job(
        job_id=text_id,
        array_job_id=None,
        array_task_id=None,
        name=f"job-{text_id}",
        user="hpcuser",
        account="acct-hpc",
        partition="cpu",
        state=JobState.RUNNING,
        reason="None",
        elapsed=3723,
        time_limit=86400,
        num_nodes=1,
        num_cpus=40,
        nodelist="cas011",
        submit_time=_SUBMIT,
        start_time=_SUBMIT,
        work_dir="/lustre/home/acct-hpc/hpcuser",
        cluster="pi",
        group="pi",
    )
    return replace(job, **changes)  # type: ignore[arg-type]


NASTY_NAMES: tuple[str, ...] = (
    "[bold]x[/]",
    "\x1b[2Jwipe",
    "训练作业",
    "a\rb",
    "bell\x07",
    "[red]训练作业-with-a-very-long-name[/red]\x1b]0;title\x07",
    "tab\there",
    "$(rm -rf ~)|pipe",
)


def nasty_jobs() -> list[Job]:
    """Jobs whose names try to style, move or break the screen."""
    states = [
        JobState.RUNNING,
        JobState.PENDING,
        JobState.FAILED,
        JobState.COMPLETED,
        JobState.CANCELLED,
        JobState.OUT_OF_MEMORY,
        JobState.TIMEOUT,
        JobState.PENDING,
    ]
    jobs = []
    for index, (name, state) in enumerate(zip(NASTY_NAMES, states, strict=True)):
        pending = state is JobState.PENDING
        jobs.append(
            make_job(
                1000 + index,
                name=name,
                state=state,
                reason="Priority" if pending else "None",
                nodelist="" if pending else f"cas{index:03d}",
                elapsed=0 if pending else 60 * index + 5,
                partition="debug" if index % 2 else "cpu",
            )
        )
    return jobs


def many_jobs(count: int, *, cluster: str = "pi", seed: int = 0) -> list[Job]:
    """*count* varied jobs (ids from 100000), cheap to build."""
    states = [JobState.RUNNING, JobState.PENDING, JobState.RUNNING, JobState.COMPLETING]
    partitions = ["cpu", "debug", "small", "64c512g", "a100"]
    base = make_job(0, cluster=cluster)
    jobs = []
    for index in range(count):
        state = states[(index + seed) % len(states)]
        pending = state is JobState.PENDING
        jobs.append(
            replace(
                base,
                job_id=str(100000 + index),
                name=f"run-{index % 997}-训练" if index % 7 == 0 else f"sim_{index}",
                user=f"user{index % 50}",
                partition=partitions[index % len(partitions)],
                state=state,
                reason="Resources" if pending else "None",
                nodelist="" if pending else f"cas{index % 600:03d}",
                elapsed=0 if pending else (index * 37 + seed) % 200000,
            )
        )
    return jobs
