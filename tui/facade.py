"""What the TUI needs from the core facade, as structural types.

The TUI is written against these Protocols rather than importing ``core.service.Suan``
directly, so the screens can be built and tested with ``tests/tui/fake_core.py`` while
the facade is written, and so the contract the TUI relies on is spelled out in one place.
``core.service.Suan`` satisfies :class:`SuanLike` structurally (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from core.logs import RemoteFile
from core.slurm.models import (
    CancelOutcome,
    Efficiency,
    HistoryRecord,
    Job,
    JobDetail,
    Partition,
    StartEstimate,
)

Stream = Literal["stdout", "stderr"]
"""Which log of a job."""


class CertLike(Protocol):
    """The parts of ``core.certs.CertInfo`` the TUI shows."""

    @property
    def valid_after(self) -> datetime: ...

    @property
    def valid_before(self) -> datetime: ...


class IdentityLike(Protocol):
    """The parts of ``core.identity.Identity`` the login screens use.

    ``on_progress`` receives ``core.identity.LoginProgress`` events; the screens read
    their ``stage`` and ``approve_where`` attributes.
    """

    def status(self) -> CertLike | None: ...

    async def login(
        self, password: str, *, on_progress: Callable[[Any], None] | None = None
    ) -> CertLike: ...

    async def renew(
        self,
        password: str | None = None,
        *,
        on_progress: Callable[[Any], None] | None = None,
    ) -> CertLike: ...


class ProfileLike(Protocol):
    """The parts of ``core.config.Profile`` the TUI shows."""

    @property
    def name(self) -> str: ...

    @property
    def username(self) -> str: ...


class GroupLike(Protocol):
    """A node group of the site (``core.site.Group``)."""

    @property
    def label(self) -> str: ...


class SiteLike(Protocol):
    """The parts of ``core.site.Site`` the TUI shows."""

    @property
    def label(self) -> str: ...

    @property
    def groups(self) -> Mapping[str, GroupLike]: ...


class SuanLike(Protocol):
    """The facade ``core.service.Suan`` as the TUI uses it."""

    @property
    def profile(self) -> ProfileLike: ...

    @property
    def site(self) -> SiteLike: ...

    @property
    def identity(self) -> IdentityLike: ...

    @property
    def read_only(self) -> bool: ...

    async def partitions(self) -> list[Partition]: ...

    async def jobs(
        self,
        *,
        everyone: bool = False,
        partition: str | None = None,
        states: Sequence[str] = (),
    ) -> list[Job]: ...

    async def job(self, job_id: str) -> JobDetail | HistoryRecord: ...

    async def history(
        self,
        *,
        start: datetime,
        end: datetime | None = None,
        states: Sequence[str] = (),
        name: str | None = None,
    ) -> list[HistoryRecord]: ...

    async def efficiency(self, job_id: str) -> Efficiency: ...

    async def start_estimate(self, job_id: str) -> StartEstimate | None: ...

    async def batch_script(self, job_id: str) -> str | None: ...

    async def cancel(self, job_ids: Sequence[str]) -> list[CancelOutcome]: ...

    async def log_paths(self, job_id: str) -> Any: ...

    async def open_log(self, job_id: str, which: Stream = "stdout") -> RemoteFile: ...

    async def close(self) -> None: ...


def refresh_seconds(suan: SuanLike, default: float = 5.0) -> float:
    """The profile's refresh interval (``refresh_seconds``), never below one second."""
    value = getattr(suan.profile, "refresh_seconds", default)
    try:
        return max(1.0, float(value))
    except (TypeError, ValueError):
        return default


def keymap_of(suan: SuanLike) -> dict[str, str]:
    """The ``[keys]`` table (binding id → keys) if the facade carries the config."""
    for holder in (suan, getattr(suan, "config", None)):
        keys = getattr(holder, "keys", None)
        if isinstance(keys, Mapping):
            return {str(k): str(v) for k, v in keys.items()}
    return {}
