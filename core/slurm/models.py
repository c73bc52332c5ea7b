"""Typed records for what Slurm reports. Parsers produce these; the TUI and CLI render them.

Times are timezone-aware ``datetime`` (UTC) or None; durations are seconds (int) or None
for "unlimited"/"unknown"; memory is in MiB. Text that came from the cluster (names,
paths, reasons) is kept exactly as Slurm printed it and must be rendered as plain text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class JobState(StrEnum):
    """Slurm's job states (long names, as squeue %T and sacct State print them)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUSPENDED = "SUSPENDED"
    COMPLETING = "COMPLETING"
    CONFIGURING = "CONFIGURING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    BOOT_FAIL = "BOOT_FAIL"
    DEADLINE = "DEADLINE"
    REQUEUED = "REQUEUED"
    RESIZING = "RESIZING"
    REVOKED = "REVOKED"
    SPECIAL_EXIT = "SPECIAL_EXIT"
    STOPPED = "STOPPED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, text: str) -> JobState:
        """``CANCELLED by 5001`` → CANCELLED; anything unknown → UNKNOWN."""
        word = text.strip().split(" ", 1)[0].rstrip("+")
        try:
            return cls(word)
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATES

    @property
    def is_finished(self) -> bool:
        return not self.is_active


ACTIVE_STATES = frozenset(
    {
        JobState.PENDING,
        JobState.RUNNING,
        JobState.SUSPENDED,
        JobState.COMPLETING,
        JobState.CONFIGURING,
        JobState.REQUEUED,
        JobState.RESIZING,
        JobState.STOPPED,
    }
)

#: States that count as a failure when one of my jobs ends in them.
FAILED_STATES = frozenset(
    {
        JobState.FAILED,
        JobState.TIMEOUT,
        JobState.NODE_FAIL,
        JobState.OUT_OF_MEMORY,
        JobState.BOOT_FAIL,
        JobState.DEADLINE,
    }
)


@dataclass(frozen=True, slots=True)
class Job:
    """One row of the queue (squeue), array tasks expanded."""

    job_id: str
    """What scancel accepts: ``1234`` or ``1234_5`` for an array task."""
    array_job_id: str | None
    """The array's master id (``%A``) for array tasks, else None."""
    array_task_id: str | None
    """The task index (``%a``), or a pending range such as ``[3-6%2]``; None if not an array."""
    name: str
    user: str
    account: str
    partition: str
    state: JobState
    reason: str
    """Pending reason, or ``None`` as Slurm prints it for running jobs."""
    elapsed: int | None
    time_limit: int | None
    num_nodes: int
    num_cpus: int
    nodelist: str
    submit_time: datetime | None
    start_time: datetime | None
    work_dir: str
    cluster: str
    """Which controller reported this job (the node group it runs in)."""
    group: str
    """The site's node group (pi, kp, sy)."""
    gres: str = ""
    comment: str = ""
    """The job's comment (``--comment``); suan tags its submissions ``suan:<uuid>``."""

    @property
    def key(self) -> str:
        """A unique key across clusters, for tables updated by row key."""
        return f"{self.cluster}:{self.job_id}"


@dataclass(frozen=True, slots=True)
class Node:
    """One compute node as sinfo sees it."""

    name: str
    partition: str
    state: str
    cpus_alloc: int
    cpus_idle: int
    cpus_total: int
    memory_mb: int
    gres: str
    """Configured generic resources, e.g. ``gpu:a100:4``."""
    gres_used: str


@dataclass(frozen=True, slots=True)
class Partition:
    """A partition with node counts by state and CPU/GPU totals."""

    name: str
    group: str
    cluster: str
    is_default: bool
    available: str
    """``up`` or ``down`` (sinfo %a)."""
    time_limit: int | None
    nodes_total: int
    nodes_by_state: dict[str, int]
    cpus_alloc: int
    cpus_idle: int
    cpus_other: int
    cpus_total: int
    gpus_total: int
    gpus_used: int
    memory_mb: int
    """Memory per node (the smallest in the partition)."""
    nodes: tuple[Node, ...] = ()
    description: str = ""
    """The site's words about the hardware."""

    @property
    def state(self) -> str:
        if self.available.lower() != "up":
            return "down"
        if self.nodes_total and all(
            s.startswith(("down", "drain", "fail")) for s in self.nodes_by_state
        ):
            return "down"
        return "up"


@dataclass(frozen=True, slots=True)
class JobDetail:
    """``scontrol -o show job`` for one job: every field kept, the common ones typed."""

    job_id: str
    name: str
    user: str
    account: str
    partition: str
    state: JobState
    reason: str
    stdout: str
    stderr: str
    work_dir: str
    command: str
    dependency: str
    submit_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    time_limit: int | None
    run_time: int | None
    num_nodes: int
    num_cpus: int
    nodelist: str
    tres: str
    exit_code: str
    cluster: str
    group: str
    array_job_id: str | None = None
    array_task_id: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One job (allocation) from sacct; steps are folded into it."""

    job_id: str
    name: str
    user: str
    account: str
    partition: str
    state: JobState
    exit_code: str
    submit_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    elapsed: int | None
    time_limit: int | None
    num_nodes: int
    num_cpus: int
    nodelist: str
    work_dir: str
    submit_line: str
    cluster: str
    group: str
    job_id_raw: str = ""
    """sacct's JobIDRaw: an array task's own job id (what ``%j`` expands to)."""


@dataclass(frozen=True, slots=True)
class Efficiency:
    """CPU, memory and GPU efficiency of a finished job, computed from sacct (no seff)."""

    job_id: str
    state: JobState
    elapsed: int
    alloc_cpus: int
    total_cpu_seconds: float
    cpu_efficiency: float | None
    """0..1, or None when nothing ran."""
    max_rss_mb: float | None
    requested_mem_mb: float | None
    memory_efficiency: float | None
    gpus: int
    gpu_efficiency: float | None
    """None where the cluster records no GPU utilisation."""


@dataclass(frozen=True, slots=True)
class StartEstimate:
    """``squeue --start`` for a pending job."""

    job_id: str
    start_time: datetime | None
    nodes: str
    reason: str


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """A submitted job: its id and the cluster it went to."""

    job_id: str
    cluster: str
    group: str
    host: str
    tag: str = ""
    """The ``--comment`` suan gave the job, to find it again if the outcome was unknown."""


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """What became of one job after scancel, confirmed with squeue/sacct."""

    job_id: str
    cancelled: bool
    state: JobState | None
    message: str
