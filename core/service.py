"""``Suan``: the one facade the TUI and the command line both talk to.

It owns the identity, the SSH session pool and the router, and turns "my jobs" into
squeue on every controller side by side, "this job's log" into the right entry node and
an SFTP range read, and a submit into sbatch on the partition's own group. Reads are
retried once after a dropped connection (the pool reconnects); a submit whose outcome is
unknown is looked up by its tag instead of being sent twice.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from core.config import Config, Profile
from core.errors import NetworkError, NotFound, Refused, SuanError
from core.hpc_api import HpcApi
from core.identity import Identity
from core.logs import LogPaths, RemoteFile, paths_from_detail, paths_from_history
from core.routing import Router
from core.secrets import SecretStore
from core.sftp_access import SftpFileAccess
from core.site import EntryNode, Site
from core.slurm import sacct, sbatch, scancel, scontrol, sinfo, squeue
from core.slurm.common import run_slurm, safe_group
from core.slurm.models import (
    CancelOutcome,
    Efficiency,
    HistoryRecord,
    Job,
    JobDetail,
    Partition,
    StartEstimate,
    SubmitResult,
)
from core.ssh import KnownHosts as KnownHostsFile
from core.ssh import Session, SessionPool, fetch_host_key, fingerprint
from core.storage import Storage
from core.transfers import Transfers

T = TypeVar("T")

#: Paths under the cold pools, as they may appear in a batch script.
_COLD_PATH = re.compile(r"(?<![\w/])/(?:archive|vault|union)(?:/[^\s'\";|&<>()`]*)?")


@dataclass(frozen=True, slots=True)
class HostKeyInfo:
    """An entry node's host key as presented, for the user to decide about."""

    node: str
    host: str
    port: int
    algorithm: str
    fingerprint: str
    key_line: str


class Suan:
    """Everything suan can do for one profile."""

    def __init__(
        self,
        profile: Profile,
        *,
        identity: Identity | None = None,
        pool: SessionPool | None = None,
        api: HpcApi | None = None,
        read_only: bool = False,
        keys: dict[str, str] | None = None,
    ) -> None:
        self.profile = profile
        self.site: Site = profile.site()
        self.router = Router(self.site)
        self.read_only = read_only or profile.read_only
        self.keys = dict(keys or {})
        self.api = api or HpcApi(profile.resolved_api_url(), domain=self.site.domain)
        if identity is None:
            store = SecretStore(
                Path(profile.data_dir),
                profile=profile.name,
                username=profile.username,
                mode=profile.secrets,
            )
            identity = Identity(profile, self.api, store)
        self.identity = identity
        self.pool = pool or SessionPool(
            self.site,
            profile.username,
            identity.credentials,
            Path(profile.known_hosts),
            profile.max_channels,
        )
        self._home: str | None = None
        self._storage: Storage | None = None
        self._transfers: Transfers | None = None
        self._file_access: dict[str, SftpFileAccess] = {}

    @classmethod
    def from_config(
        cls, config: Config, profile: str | None = None, *, read_only: bool = False
    ) -> Suan:
        """The facade for ``profile`` (the config's default when None)."""
        return cls(config.profile(profile), read_only=read_only, keys=dict(config.keys))

    @property
    def username(self) -> str:
        return self.profile.username

    async def close(self) -> None:
        """Close SFTP channels, SSH connections and the HTTP client."""
        for access in self._file_access.values():
            await access.close()
        self._file_access.clear()
        await self.pool.close()
        await self.api.aclose()

    # -- plumbing ---------------------------------------------------------------------

    def session(self, node: str | EntryNode) -> Session:
        return self.pool.session(node)

    def group_of(self, partition: str) -> str:
        """The node group of a partition; partitions the site file lacks keep a fallback."""
        return safe_group(self.router.group_of_partition, partition, "")

    async def _read(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run a read, once more after a dropped connection (the pool reconnects)."""
        try:
            return await fn()
        except NetworkError:
            return await fn()

    def require_writable(self, what: str) -> None:
        if self.read_only:
            raise Refused(f"Read-only mode: {what} is disabled.")

    def _controllers(self, partition: str | None = None) -> dict[str, EntryNode]:
        controllers = self.router.controllers()
        if partition:
            name = self.router.controller_of_partition(partition)
            return {name: controllers[name]}
        return controllers

    async def _each_controller(
        self,
        fn: Callable[[str, Session], Awaitable[T]],
        partition: str | None = None,
    ) -> list[T]:
        """``fn(cluster, session)`` on every controller side by side."""

        async def one(cluster: str, node: EntryNode) -> T:
            return await self._read(lambda: fn(cluster, self.session(node)))

        items = self._controllers(partition).items()
        return list(await asyncio.gather(*(one(c, n) for c, n in items)))

    # -- Slurm -------------------------------------------------------------------------

    async def partitions(self) -> list[Partition]:
        """Every partition of every node group, with the site's description."""

        async def one(cluster: str, session: Session) -> list[Partition]:
            return await sinfo.partitions(session, cluster=cluster, group_of=self.group_of)

        found = [p for batch in await self._each_controller(one) for p in batch]
        described = []
        for p in found:
            info = self.site.partitions.get(p.name)
            if info is not None and not p.description:
                p = _replace(p, description=info.description)
            described.append(p)
        return sorted(described, key=lambda p: (p.group, p.name))

    async def jobs(
        self,
        *,
        everyone: bool = False,
        user: str | None = None,
        partition: str | None = None,
        states: Sequence[str] = (),
    ) -> list[Job]:
        """The queue of every controller (or the partition's): mine, ``user``'s, or
        everyone's."""
        user = None if everyone else (user or self.username)

        async def one(cluster: str, session: Session) -> list[Job]:
            return await squeue.list_jobs(
                session,
                cluster=cluster,
                group_of=self.group_of,
                user=user,
                partition=partition,
                states=states,
            )

        return [j for batch in await self._each_controller(one, partition) for j in batch]

    async def jobs_matching(self, job_ids: Sequence[str]) -> list[Job]:
        """Queued jobs with these ids; an array's id brings every one of its tasks."""
        if not job_ids:
            return []

        async def one(cluster: str, session: Session) -> list[Job]:
            return await squeue.list_jobs(
                session, cluster=cluster, group_of=self.group_of, job_ids=job_ids
            )

        wanted = set(job_ids)
        return [
            j
            for batch in await self._each_controller(one)
            for j in batch
            if j.job_id in wanted or (j.array_job_id in wanted)
        ]

    async def job(self, job_id: str) -> JobDetail | HistoryRecord:
        """One job: scontrol while the controller knows it, else accounting."""

        async def live(cluster: str, session: Session) -> JobDetail | None:
            try:
                return await scontrol.show_job(
                    session, job_id, cluster=cluster, group_of=self.group_of
                )
            except NotFound:
                return None

        for detail in await self._each_controller(live):
            if detail is not None:
                return detail

        async def accounted(cluster: str, session: Session) -> HistoryRecord | None:
            try:
                return await sacct.job_record(
                    session, job_id, cluster=cluster, group_of=self.group_of
                )
            except NotFound:
                return None

        for record in await self._each_controller(accounted):
            if record is not None:
                return record
        raise NotFound(f"Job {job_id} is not known to any controller or to accounting.")

    async def _job_session(self, job_id: str) -> tuple[JobDetail | HistoryRecord, Session]:
        job = await self.job(job_id)
        return job, self.session(self.router.controllers()[job.cluster])

    async def history(
        self,
        *,
        start: datetime,
        end: datetime | None = None,
        states: Sequence[str] = (),
        name: str | None = None,
        everyone: bool = False,
    ) -> list[HistoryRecord]:
        """Accounting records of every controller between ``start`` and ``end``; ``name``
        keeps the jobs whose name contains it, or one of its comma-separated parts
        (case-insensitive)."""

        async def one(cluster: str, session: Session) -> list[HistoryRecord]:
            return await sacct.history(
                session,
                cluster=cluster,
                group_of=self.group_of,
                start=start,
                end=end,
                user=None if everyone else self.username,
                all_users=everyone,
                states=states,
            )

        records = [r for batch in await self._each_controller(one) for r in batch]
        needles = [part.casefold() for part in (name or "").split(",") if part]
        if needles:
            # sacct's --name matches whole names only; people type part of one. A comma
            # separates alternatives, as in sacct.
            records = [r for r in records if any(n in r.name.casefold() for n in needles)]
        return sorted(records, key=lambda r: (r.submit_time is None, r.submit_time), reverse=True)

    async def efficiency(self, job_id: str) -> Efficiency:
        """CPU/memory/GPU efficiency from accounting."""
        job, session = await self._job_session(job_id)
        return await self._read(lambda: sacct.efficiency(session, job.job_id))

    async def start_estimate(self, job_id: str) -> StartEstimate | None:
        """When Slurm expects a pending job to start."""
        _job, session = await self._job_session(job_id)
        return await self._read(lambda: squeue.start_estimate(session, job_id))

    async def batch_script(self, job_id: str) -> str | None:
        """The batch script: from the controller while it has it, else from accounting."""
        job, session = await self._job_session(job_id)
        if isinstance(job, JobDetail):
            result = await self._read(
                lambda: run_slurm(session, scontrol.batch_script_argv(job_id))
            )
            if result.ok and result.stdout.strip():
                return result.stdout
        return await self._read(lambda: sacct.batch_script(session, job_id))

    async def submit(
        self,
        script: str,
        *,
        partition: str | None = None,
        options: Sequence[str] = (),
        workdir: str | None = None,
    ) -> SubmitResult:
        """sbatch on the entry node of the partition's group.

        If the connection drops mid-submit the job may or may not exist: it is looked up
        by its tag rather than submitted a second time.
        """
        self.require_writable("submitting jobs")
        # A partition named in the options or the script routes the job; sbatch itself
        # reads it from there, so only an explicit ``partition`` is passed again.
        target = partition or requested_partition(script, options) or self.default_partition()
        group = self.router.group_of_partition(target)
        node = self.router.job_node(group)
        cluster = self.router.controller_of_partition(target)
        session = self.session(node)
        tag = sbatch.new_tag()
        try:
            return await sbatch.submit(
                session,
                script,
                partition=partition,
                options=options,
                workdir=workdir,
                tag=tag,
                cluster=cluster,
                group=group,
                host=node.name,
            )
        except NetworkError:
            found = await self._read(
                lambda: sbatch.find_by_tag(
                    session, tag, cluster=cluster, group_of=self.group_of, user=self.username
                )
            )
            if found:
                return SubmitResult(
                    job_id=found[0].job_id, cluster=cluster, group=group, host=node.name, tag=tag
                )
            raise

    def default_partition(self) -> str:
        """The site's default partition (the first one marked default, else the first)."""
        for name, info in self.site.partitions.items():
            if getattr(info, "default", False):
                return name
        return next(iter(self.site.partitions))

    async def cancel(self, job_ids: Sequence[str]) -> list[CancelOutcome]:
        """scancel on each job's own controller, then the effect confirmed per job."""
        self.require_writable("cancelling jobs")
        jobs = await self.jobs_matching(job_ids)
        by_cluster: dict[str, list[str]] = {}
        for job in jobs:
            by_cluster.setdefault(job.cluster, []).append(job.job_id)
        controllers = self.router.controllers()
        batches = await asyncio.gather(
            *(
                scancel.cancel(self.session(controllers[cluster]), ids)
                for cluster, ids in by_cluster.items()
            )
        )
        outcomes = [o for batch in batches for o in batch]
        known = {j.job_id for j in jobs} | {j.array_job_id for j in jobs if j.array_job_id}
        outcomes += [
            CancelOutcome(job_id=i, cancelled=False, state=None, message="not in the queue")
            for i in job_ids
            if i not in known
        ]
        return outcomes

    # -- logs ------------------------------------------------------------------------

    async def log_paths(self, job_id: str) -> LogPaths:
        """Where a job's stdout and stderr are, running or finished."""
        job, session = await self._job_session(job_id)
        if isinstance(job, JobDetail):
            return paths_from_detail(job)
        script = await self._read(lambda: sacct.batch_script(session, job.job_id))
        return paths_from_history(job, script, raw_job_id=job.job_id_raw or job_id)

    def file_access(self, node: str | EntryNode) -> SftpFileAccess:
        """One kept SFTP channel per entry node for range reads."""
        name = node if isinstance(node, str) else node.name
        access = self._file_access.get(name)
        if access is None:
            access = self._file_access[name] = SftpFileAccess(self.session(name))
        return access

    async def open_log(
        self, job_id: str, which: Literal["stdout", "stderr"] = "stdout"
    ) -> RemoteFile:
        """A job's log, read by range on an entry node of the job's group."""
        paths = await self.log_paths(job_id)
        node = self.router.job_node(paths.group) if paths.group else None
        if node is None:
            raise NotFound(f"No entry node sees the output of job {job_id}.")
        path = paths.stdout if which == "stdout" else paths.stderr
        return RemoteFile(self.file_access(node), path)

    def open_file(self, path: str) -> RemoteFile:
        """Any remote file, read by range through a node that sees its pool."""
        node = self.router.node_for_read(path)
        return RemoteFile(self.file_access(node), path)

    # -- storage -----------------------------------------------------------------------

    def cold_paths(self, script: str) -> list[str]:
        """Cold-storage paths a batch script mentions: jobs must not use them directly."""
        seen: list[str] = []
        for line in script.splitlines():
            code = line.split("#", 1)[0] if not line.startswith("#SBATCH") else line
            for match in _COLD_PATH.finditer(code):
                if match.group(0) not in seen:
                    seen.append(match.group(0))
        return seen

    async def home(self) -> str:
        """The user's home in their hot pool, from the API's ``home`` (``%H/home/...``)."""
        if self._home is None:
            token = await self.identity.token()
            info = await self.api.get_user(token, self.username)
            raw = str(info.get("home") or "")
            if not raw:
                raise SuanError("The HPC API did not say where your home directory is.")
            if raw.startswith("%H"):
                group = getattr(self.profile, "group", None) or next(iter(self.site.groups))
                pool = self.site.pools[self.site.groups[group].hot_pool]
                raw = pool.mount + raw[2:]
            self._home = raw
        return self._home

    async def storage(self) -> Storage:
        """The storage explorer's core, once the home directory is known."""
        if self._storage is None:
            home = await self.home()
            self._storage = Storage(
                self.router,
                self.pool,
                home,
                _QuotaSource(self),
                group=self.router.group_of_path(home),
                read_only=self.read_only,
            )
        return self._storage

    async def transfers(self) -> Transfers:
        """Transfers between pools and to/from this machine."""
        if self._transfers is None:
            self._transfers = Transfers(
                self.router,
                self.pool,
                await self.storage(),
                Path(self.profile.data_dir),
                profile=self.profile.name,
            )
        return self._transfers

    # -- account ---------------------------------------------------------------------------

    async def whoami(self) -> dict[str, Any]:
        """The account as the API knows it, plus the certificate's validity."""
        token = await self.identity.token()
        info = dict(await self.api.get_user(token, self.username))
        cert = self.identity.status()
        if cert is not None:
            info["certificate_valid_until"] = cert.valid_before.isoformat()
        return info

    async def host_key(self, node: str) -> HostKeyInfo:
        """The host key an entry node presents (for ``suan trust-host``)."""
        entry = self.site.node(node)
        key = await fetch_host_key(entry.host, entry.port)
        return HostKeyInfo(
            node=entry.name,
            host=entry.host,
            port=entry.port,
            algorithm=key.get_algorithm(),
            fingerprint=fingerprint(key),
            key_line=key.export_public_key().decode().strip(),
        )

    def trust_host_key(self, info: HostKeyInfo) -> None:
        """Add the presented key to the profile's known_hosts."""
        self.require_writable("trusting host keys")
        KnownHostsFile.load(Path(self.profile.known_hosts)).trust(
            info.host, info.port, info.key_line
        )


_PARTITION_OPTION = re.compile(r"^(?:-p|--partition)(?:=|\s+|(?=\S))(\S+)")


def requested_partition(script: str, options: Sequence[str] = ()) -> str | None:
    """The partition a submission asks for: sbatch options first (they win over the
    script), then the script's ``#SBATCH`` lines. The first of a list routes it."""
    found: str | None = None
    opts = list(options)
    for i, opt in enumerate(opts):
        if opt in ("-p", "--partition") and i + 1 < len(opts):
            found = opts[i + 1]
        elif opt.startswith("--partition="):
            found = opt.split("=", 1)[1]
        elif opt.startswith("-p") and len(opt) > 2:
            found = opt[2:]
    if found is None:
        for line in script.splitlines():
            stripped = line.strip()
            if not stripped.startswith("#"):
                if stripped:
                    break  # sbatch stops reading #SBATCH at the first command
                continue
            if stripped.startswith("#SBATCH"):
                match = _PARTITION_OPTION.match(stripped[len("#SBATCH") :].strip())
                if match:
                    found = match.group(1)
    return found.split(",")[0] if found else None


class _QuotaSource:
    """Quotas need no token on the real API; the facade passes the call through."""

    def __init__(self, suan: Suan) -> None:
        self.suan = suan

    async def get_quota(self, kind: str, name: str) -> Any:
        return await self.suan.api.get_quota(kind, name)


def _replace(p: Partition, **changes: Any) -> Partition:
    import dataclasses

    return dataclasses.replace(p, **changes)
