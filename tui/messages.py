"""Typed messages that carry worker results back to the screens.

Workers never touch widgets: they ask the facade, then post one of these. Each screen
renders what arrives in an ``on_*`` handler, so every update happens on the UI side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from textual.message import Message

from core.slurm.models import (
    CancelOutcome,
    Efficiency,
    HistoryRecord,
    Job,
    JobDetail,
    JobState,
    Partition,
    StartEstimate,
)
from tui.facade import CertLike


@dataclass
class JobsLoaded(Message):
    """A fresh queue from ``Suan.jobs``."""

    jobs: list[Job]
    everyone: bool
    at: datetime


@dataclass
class JobEnded(Message):
    """One of my jobs left the active states (seen in the queue or looked up once)."""

    job_id: str
    name: str
    state: JobState | None
    """None when the job vanished and the lookup found nothing."""


@dataclass
class CancelDone(Message):
    """Verified outcomes of a cancellation."""

    outcomes: list[CancelOutcome]


@dataclass
class PartitionsLoaded(Message):
    """A fresh partition list from ``Suan.partitions``."""

    partitions: list[Partition]
    at: datetime


@dataclass
class PartitionJobsLoaded(Message):
    """Everyone's jobs in one partition."""

    partition: str
    jobs: list[Job]


@dataclass
class DetailLoaded(Message):
    """Everything the detail screen shows about one job; optional parts may be missing."""

    detail: JobDetail | HistoryRecord
    estimate: StartEstimate | None
    efficiency: Efficiency | None
    script: str | None
    problems: list[str]
    """Words about the optional parts that could not be fetched."""


@dataclass
class HistoryLoaded(Message):
    """Records from ``Suan.history`` for the chosen range."""

    records: list[HistoryRecord]
    start: datetime
    end: datetime | None
    at: datetime


@dataclass
class LogOpened(Message):
    """A log file is ready to show: the file, its path and the node that reads it."""

    remote_file: Any
    path: str
    node: str


@dataclass
class LoginProgressed(Message):
    """A stage of the login reached (``token``, ``key``, ``approval``, ``done``)."""

    stage: str
    where: str


@dataclass
class LoginSucceeded(Message):
    """The certificate arrived."""

    cert: CertLike
