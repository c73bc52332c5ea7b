"""A fake ``core.service.Suan`` for TUI tests: canned, realistic data and controllable faults.

Same method names and signatures as the facade in docs/architecture.md. Everything is in
memory and deterministic: a fixed clock (:data:`NOW`), jobs from both clusters with nasty
names, arrays, every common state. Tests steer it with:

- ``fail[method] = error``: the next call of ``method`` raises ``error`` (once);
- ``gates[method] = asyncio.Event()``: calls of ``method`` wait until the event is set;
- ``identity.approval``: the second factor, approved when the test sets it;
- ``calls``: every call made, for assertions;
- ``logs``: the in-memory log files (``logs.append(path, data)`` grows one).

It also holds the Pilot helpers the TUI tests share: :func:`settle` (wait for workers),
:func:`until` (poll with a deadline), :func:`screen_text` / :func:`region_text` (what
the terminal shows) and :func:`record` (notifications and bells).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from textual.app import App
from textual.pilot import Pilot

from core.errors import (
    ApiError,
    NotFound,
    NotLoggedIn,
    Refused,
    SecondFactorUnbound,
    SuanError,
    WrongPassword,
)
from core.logs import LogPaths, MemoryFileAccess, RemoteFile
from core.slurm.models import (
    CancelOutcome,
    Efficiency,
    HistoryRecord,
    Job,
    JobDetail,
    JobState,
    Node,
    Partition,
    StartEstimate,
)

NOW = datetime(2026, 5, 11, 9, 30, 0, tzinfo=UTC)
"""The fake's fixed "now"; the TUI tests give the app a clock that starts here."""

ME = "hpcuser"
PASSWORD = "correct horse battery staple"
DOCS_SECURITY = "https://docs.hpc.sjtu.edu.cn/accounts/security.html"

NASTY_MARKUP = "[bold red]pwn[/] $(id)"
NASTY_ESCAPE = "esc\x1b[2Jcleared"
NASTY_CJK = "训练作业"


class FakeClock:
    """A clock the tests move by hand: ``clock()`` is now, ``clock.advance(s)`` moves it."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class FakeCertInfo:
    """Same fields as ``core.certs.CertInfo``."""

    key_id: str
    principals: tuple[str, ...]
    valid_after: datetime
    valid_before: datetime

    def remaining(self, now: datetime | None = None) -> timedelta:
        """Time left until the certificate expires."""
        return self.valid_before - (now or NOW)

    @property
    def expired(self) -> bool:
        return self.remaining() <= timedelta(0)

    def expires_soon(self, margin: timedelta = timedelta(hours=1)) -> bool:
        """True when less than ``margin`` is left."""
        return self.remaining() <= margin


@dataclass(frozen=True)
class FakeLoginProgress:
    """Same shape as ``core.identity.LoginProgress``."""

    stage: str
    elapsed: float
    approve_where: str = "交我办 app or email"


def cert_valid_for(hours: float, *, start: datetime = NOW) -> FakeCertInfo:
    """A certificate issued at ``start`` that stays valid for ``hours``."""
    return FakeCertInfo(
        key_id="suan-hpcuser",
        principals=(ME,),
        valid_after=start,
        valid_before=start + timedelta(hours=hours),
    )


class FakeIdentity:
    """Login, status and renewal with a second factor the test approves by hand.

    ``mode`` picks what the next login does: ``"normal"``, ``"wrong_password"``,
    ``"unbound"`` (no email/jAccount bound) or ``"internal_error"`` (HTTP 500).
    """

    def __init__(self, cert: FakeCertInfo | None = None) -> None:
        self.cert = cert
        self.mode = "normal"
        self.valid_hours = 12.0
        self.logins = 0
        self.renewals = 0
        self.cancelled = 0
        self._approval: asyncio.Event | None = None

    @property
    def approval(self) -> asyncio.Event:
        """Set it to approve the pending second factor (created in the running loop)."""
        if self._approval is None:
            self._approval = asyncio.Event()
        return self._approval

    def status(self) -> FakeCertInfo | None:
        """The stored certificate, or None."""
        return self.cert

    async def login(
        self,
        password: str,
        *,
        on_progress: Callable[[FakeLoginProgress], None] | None = None,
        valid_time: int = 12 * 3600,
        approval_timeout: float = 900,
    ) -> FakeCertInfo:
        """Token, key, then wait for the second factor; errors like the real API's."""
        self.logins += 1
        report = on_progress or (lambda _p: None)
        report(FakeLoginProgress("token", 0.0))
        await asyncio.sleep(0)
        self._raise_for_mode()
        if password != PASSWORD:
            raise WrongPassword(
                f"The HPC API refused the password of {ME}.",
                hint="Check it and try again; repeated failures ban your address for an hour.",
                status=401,
            )
        report(FakeLoginProgress("key", 0.0))
        return await self._await_approval(report)

    async def renew(
        self,
        password: str | None = None,
        *,
        on_progress: Callable[[FakeLoginProgress], None] | None = None,
    ) -> FakeCertInfo:
        """A new certificate with the stored token; needs the second factor again."""
        self.renewals += 1
        self._raise_for_mode()
        return await self._await_approval(on_progress)

    def logout(self) -> None:
        """Forget the certificate."""
        self.cert = None

    def _raise_for_mode(self) -> None:
        if self.mode == "unbound":
            raise SecondFactorUnbound(
                "The HPC API refused: user have not set email or jAccount.",
                hint=f"Bind an email or jAccount for the second factor: {DOCS_SECURITY}",
                status=400,
            )
        if self.mode == "internal_error":
            raise ApiError(
                "The HPC API failed with an internal error (session ID 7f3a-42c1).",
                hint="Write to hpc@sjtu.edu.cn quoting session ID 7f3a-42c1.",
                status=500,
                session_id="7f3a-42c1",
            )
        if self.mode == "expired_token":
            raise NotLoggedIn("Your token has expired.", hint="Log in again with your password.")

    async def _await_approval(
        self, report: Callable[[FakeLoginProgress], None] | None
    ) -> FakeCertInfo:
        if report is not None:
            report(FakeLoginProgress("approval", 0.0))
        try:
            await self.approval.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.approval.clear()
        self.cert = cert_valid_for(self.valid_hours)
        if report is not None:
            report(FakeLoginProgress("done", 0.0))
        return self.cert


@dataclass(frozen=True)
class FakeProfile:
    """Same fields as ``core.config.Profile`` that the TUI reads."""

    name: str = "testbed"
    site: str = "sjtu"
    username: str = ME
    read_only: bool = False
    refresh_seconds: float = 5.0


@dataclass(frozen=True)
class FakeGroup:
    """A node group, as ``core.site.Group``."""

    name: str
    label: str
    hot_pool: str
    controller: str


@dataclass(frozen=True)
class FakeSite:
    """The parts of ``core.site.Site`` the TUI reads."""

    name: str = "sjtu"
    label: str = "SJTU HPC 交我算"
    groups: dict[str, FakeGroup] = field(
        default_factory=lambda: {
            "pi": FakeGroup("pi", "π 2.0", "lustre", "pi"),
            "kp": FakeGroup("kp", "鲲鹏 ARM", "lustre", "pi"),
            "sy": FakeGroup("sy", "思源一号", "dssg", "sy"),
        }
    )


def _t(minutes_ago: float) -> datetime:
    return NOW - timedelta(minutes=minutes_ago)


def _job(
    job_id: str,
    name: str,
    state: JobState,
    *,
    user: str = ME,
    partition: str = "cpu",
    cluster: str = "pi",
    group: str = "pi",
    reason: str = "None",
    elapsed: int | None = 0,
    time_limit: int | None = 7 * 24 * 3600,
    cpus: int = 1,
    nodes: int = 1,
    nodelist: str = "",
    array: tuple[str, str] | None = None,
    gres: str = "",
    submit_minutes_ago: float = 30,
) -> Job:
    running = state is JobState.RUNNING
    return Job(
        job_id=job_id,
        array_job_id=array[0] if array else None,
        array_task_id=array[1] if array else None,
        name=name,
        user=user,
        account="acct-hpc",
        partition=partition,
        state=state,
        reason=reason,
        elapsed=elapsed,
        time_limit=time_limit,
        num_nodes=nodes,
        num_cpus=cpus,
        nodelist=nodelist,
        submit_time=_t(submit_minutes_ago),
        start_time=_t(submit_minutes_ago - 1) if running else None,
        work_dir=f"/lustre/home/acct-hpc/{user}"
        if group != "sy"
        else f"/dssg/home/acct-hpc/{user}",
        cluster=cluster,
        group=group,
        gres=gres,
    )


def sample_jobs() -> list[Job]:
    """The queue of both clusters: mine and otheruser's, arrays, pending reasons, nasty names."""
    r, p = JobState.RUNNING, JobState.PENDING
    return [
        _job("1001", "train-resnet", r, elapsed=1834, cpus=40, nodelist="cas001"),
        _job("1002", NASTY_CJK, r, elapsed=615, cpus=4, nodelist="cas002"),
        _job("1003", NASTY_MARKUP, p, reason="Resources", elapsed=0, cpus=120, nodes=3),
        _job("1004", "post-process", p, reason="Dependency", elapsed=0),
        _job("1005", "held|job", p, reason="JobHeldUser", elapsed=0),
        _job("1006", NASTY_ESCAPE, p, reason="PartitionDown", partition="huge", elapsed=0),
        _job("1007_1", "sweep", r, elapsed=120, nodelist="cas003", array=("1007", "1")),
        _job("1007_2", "sweep", r, elapsed=118, nodelist="cas003", array=("1007", "2")),
        _job(
            "1007_[3-6%2]",
            "sweep",
            p,
            reason="JobArrayTaskLimit",
            elapsed=0,
            array=("1007", "[3-6%2]"),
        ),
        _job(
            "1010",
            "debug-shell",
            r,
            partition="debug",
            elapsed=300,
            time_limit=1200,
            nodelist="debug001",
        ),
        _job(
            "1011",
            "arm-bench",
            r,
            partition="arm128c256g",
            group="kp",
            elapsed=4000,
            cpus=128,
            nodelist="kp001",
        ),
        _job("1020", "others-md", r, user="otheruser", elapsed=7200, cpus=40, nodelist="cas002"),
        _job("1021", "others-wait", p, user="otheruser", reason="Priority", elapsed=0),
        _job(
            "500001",
            "llm-finetune",
            r,
            partition="a100",
            cluster="sy",
            group="sy",
            elapsed=3600,
            cpus=32,
            nodelist="gpu01",
            gres="gpu:a100:2",
        ),
        _job(
            "500002",
            "small-job",
            p,
            partition="small",
            cluster="sy",
            group="sy",
            reason="BeginTime",
            elapsed=0,
        ),
    ]


def _node(name: str, partition: str, state: str, alloc: int, total: int, mem: int) -> Node:
    gres = "gpu:a100:4" if name.startswith("gpu") else "(null)"
    used = "gpu:a100:2(IDX:0-1)" if name == "gpu01" else "gpu:0"
    return Node(
        name=name,
        partition=partition,
        state=state,
        cpus_alloc=alloc,
        cpus_idle=total - alloc if state in ("idle", "mixed", "allocated") else 0,
        cpus_total=total,
        memory_mb=mem,
        gres=gres,
        gres_used=used if name.startswith("gpu") else "",
    )


def sample_partitions() -> list[Partition]:
    """Partitions of both clusters with nodes, as ``Suan.partitions`` returns them."""

    def part(
        name: str,
        group: str,
        cluster: str,
        nodes: tuple[Node, ...],
        *,
        default: bool = False,
        available: str = "up",
        limit: int | None = 7 * 24 * 3600,
        gpus: tuple[int, int] = (0, 0),
        description: str = "",
    ) -> Partition:
        by_state: dict[str, int] = {}
        for n in nodes:
            by_state[n.state] = by_state.get(n.state, 0) + 1
        alloc = sum(n.cpus_alloc for n in nodes)
        idle = sum(n.cpus_idle for n in nodes)
        total = sum(n.cpus_total for n in nodes)
        return Partition(
            name=name,
            group=group,
            cluster=cluster,
            is_default=default,
            available=available,
            time_limit=limit,
            nodes_total=len(nodes),
            nodes_by_state=by_state,
            cpus_alloc=alloc,
            cpus_idle=idle,
            cpus_other=total - alloc - idle,
            cpus_total=total,
            gpus_total=gpus[0],
            gpus_used=gpus[1],
            memory_mb=min(n.memory_mb for n in nodes),
            nodes=nodes,
            description=description,
        )

    return [
        part(
            "cpu",
            "pi",
            "pi",
            (
                _node("cas001", "cpu", "allocated", 40, 40, 192000),
                _node("cas002", "cpu", "mixed", 24, 40, 192000),
                _node("cas003", "cpu", "mixed", 2, 40, 192000),
            ),
            default=True,
            description="2×Xeon 6248, 40 cores, 192 GB, 656 nodes, 4 GB/core",
        ),
        part(
            "debug",
            "pi",
            "pi",
            (_node("debug001", "debug", "mixed", 1, 40, 192000),),
            limit=1200,
            description="2 nodes, 20 min",
        ),
        part(
            "huge",
            "pi",
            "pi",
            (_node("huge001", "huge", "down", 0, 80, 3000000),),
            available="down",
            limit=2 * 24 * 3600,
            description="80 cores, 3 TB, 2 nodes",
        ),
        part(
            "arm128c256g",
            "kp",
            "pi",
            (
                _node("kp001", "arm128c256g", "allocated", 128, 128, 256000),
                _node("kp002", "arm128c256g", "idle", 0, 128, 256000),
            ),
            description="Kunpeng 920, 128 cores, 256 GB, 100 nodes, 2 GB/core",
        ),
        part(
            "small",
            "sy",
            "sy",
            (_node("sy001", "small", "idle", 0, 64, 512000),),
            default=True,
            description="思源一号 small jobs",
        ),
        part(
            "64c512g",
            "sy",
            "sy",
            (
                _node("sy001", "64c512g", "idle", 0, 64, 512000),
                _node("sy002", "64c512g", "idle", 0, 64, 512000),
            ),
            description="2×Xeon 8358, 64 cores, 512 GB, 938 nodes, 8 GB/core",
        ),
        part(
            "a100",
            "sy",
            "sy",
            (
                _node("gpu01", "a100", "mixed", 32, 64, 512000),
                _node("gpu02", "a100", "idle", 0, 64, 512000),
            ),
            gpus=(8, 2),
            description="64 cores, 512 GB, 4×A100 40 GB, 23 nodes, 16 CPUs per GPU",
        ),
    ]


def _record(
    job_id: str,
    name: str,
    state: JobState,
    *,
    exit_code: str = "0:0",
    end_minutes_ago: float = 60,
    elapsed: int = 600,
    partition: str = "cpu",
    cluster: str = "pi",
    group: str = "pi",
) -> HistoryRecord:
    end = _t(end_minutes_ago)
    return HistoryRecord(
        job_id=job_id,
        name=name,
        user=ME,
        account="acct-hpc",
        partition=partition,
        state=state,
        exit_code=exit_code,
        submit_time=end - timedelta(seconds=elapsed + 30),
        start_time=end - timedelta(seconds=elapsed),
        end_time=end,
        elapsed=elapsed,
        time_limit=3600,
        num_nodes=1,
        num_cpus=2,
        nodelist="cas003",
        work_dir="/lustre/home/acct-hpc/hpcuser/run dir",
        submit_line=f"sbatch -J {name} job.sh",
        cluster=cluster,
        group=group,
    )


def sample_history() -> list[HistoryRecord]:
    """Finished jobs over the last days, newest first."""
    return [
        _record("990", "cpu-burn", JobState.COMPLETED, end_minutes_ago=20, elapsed=8),
        _record("989", "bad-exit", JobState.FAILED, exit_code="3:0", end_minutes_ago=45),
        _record("988", NASTY_CJK, JobState.CANCELLED, exit_code="0:15", end_minutes_ago=90),
        _record("987", "too-slow", JobState.TIMEOUT, exit_code="0:0", end_minutes_ago=60 * 26),
        _record(
            "499990",
            "gpu-test",
            JobState.COMPLETED,
            partition="a100",
            cluster="sy",
            group="sy",
            end_minutes_ago=60 * 24 * 5,
        ),
        _record("986", "colour-log", JobState.COMPLETED, end_minutes_ago=60 * 24 * 12),
    ]


COLOUR_LOG = (
    b"starting run\n"
    b"\x1b[32mOK\x1b[0m loaded 1200 samples\n"
    b"progress 10%\rprogress 50%\rprogress 100%\n"
    b"step 1 loss=0.93\n"
    b"step 2 loss=0.71\n"
    b"ERROR: checkpoint directory is not writable\n"
    b"step 3 loss=0.55\n"
)


def _detail_from_job(job: Job, files: MemoryFileAccess) -> JobDetail:
    base = job.job_id.replace("[", "").replace("]", "").replace("%", "_")
    out = f"{job.work_dir}/{base}.out"
    err = f"{job.work_dir}/{base}.err"
    if job.state is JobState.RUNNING:
        files.files.setdefault(out, bytearray(COLOUR_LOG))
        files.files.setdefault(err, bytearray(b"warning: low disk space\n"))
    return JobDetail(
        job_id=job.job_id,
        name=job.name,
        user=job.user,
        account=job.account,
        partition=job.partition,
        state=job.state,
        reason=job.reason,
        stdout=out,
        stderr=err,
        work_dir=job.work_dir,
        command=f"{job.work_dir}/job.sh",
        dependency="afterok:1001(unfulfilled)" if job.reason == "Dependency" else "(null)",
        submit_time=job.submit_time,
        start_time=job.start_time,
        end_time=None,
        time_limit=job.time_limit,
        run_time=job.elapsed,
        num_nodes=job.num_nodes,
        num_cpus=job.num_cpus,
        nodelist=job.nodelist,
        tres=(
            f"cpu={job.num_cpus},mem={4000 * job.num_cpus}M,"
            f"node={job.num_nodes},billing={job.num_cpus}"
        ),
        exit_code="0:0",
        cluster=job.cluster,
        group=job.group,
        array_job_id=job.array_job_id,
        array_task_id=job.array_task_id,
        fields={"Priority": "4294901700", "QOS": "normal"},
    )


class Steered:
    """``fail``/``gates``/``calls``: faults and pauses a test controls, per method.

    ``fail[method]`` raises once on its next call; ``gates[method]`` holds calls until
    set; ``calls`` records every call in order."""

    def __init__(self) -> None:
        self.fail: dict[str, SuanError | Exception] = {}
        self.gates: dict[str, asyncio.Event] = {}
        self.calls: list[tuple[str, Any]] = []

    async def _enter(self, method: str, args: Any = None) -> None:
        self.calls.append((method, args))
        gate = self.gates.get(method)
        if gate is not None:
            await gate.wait()
        error = self.fail.pop(method, None)
        if error is not None:
            raise error

    def calls_of(self, method: str) -> list[Any]:
        """The arguments of every call of ``method`` so far."""
        return [args for name, args in self.calls if name == method]


class FakeSuan(Steered):
    """The facade for TUI tests; see the module docstring."""

    def __init__(
        self,
        *,
        logged_in: bool = True,
        read_only: bool = False,
        cert_hours: float = 11.5,
        refresh: float = 5.0,
        keys: dict[str, str] | None = None,
    ) -> None:
        self.profile = FakeProfile(read_only=read_only, refresh_seconds=refresh)
        self.site = FakeSite()
        self.identity = FakeIdentity(cert_valid_for(cert_hours) if logged_in else None)
        self.read_only = read_only
        self.keys: dict[str, str] = dict(keys or {})
        self.queue: list[Job] = sample_jobs()
        self.records: list[HistoryRecord] = sample_history()
        self.logs = MemoryFileAccess()
        for record in self.records:
            self.logs.write(
                f"{record.work_dir}/{record.job_id}.out",
                f"job {record.job_id} ({record.state.value})\n".encode(),
            )
        self.logs.write("/lustre/home/acct-hpc/hpcuser/run dir/986.out", COLOUR_LOG)
        Steered.__init__(self)
        self.closed = False

    async def partitions(self) -> list[Partition]:
        """Every partition of every controller."""
        await self._enter("partitions")
        return sample_partitions()

    async def jobs(
        self,
        *,
        everyone: bool = False,
        partition: str | None = None,
        states: Sequence[str] = (),
    ) -> list[Job]:
        """The queue: mine unless ``everyone``."""
        await self._enter("jobs", {"everyone": everyone, "partition": partition})
        return [
            j
            for j in self.queue
            if (everyone or j.user == ME)
            and (partition is None or j.partition == partition)
            and (not states or j.state.value in states)
        ]

    async def job(self, job_id: str) -> JobDetail | HistoryRecord:
        """Detail of a queued job, or the accounting record of a finished one."""
        await self._enter("job", job_id)
        for j in self.queue:
            if j.job_id == job_id:
                return _detail_from_job(j, self.logs)
        for r in self.records:
            if r.job_id == job_id:
                return r
        raise NotFound(f"Job {job_id} is not known to any cluster.")

    async def history(
        self,
        *,
        start: datetime,
        end: datetime | None = None,
        states: Sequence[str] = (),
        name: str | None = None,
    ) -> list[HistoryRecord]:
        """Finished jobs that ended in the range, filtered by state and name."""
        await self._enter("history", {"start": start, "end": end, "states": tuple(states)})
        wanted = {s.upper() for s in states}
        return [
            r
            for r in self.records
            if r.end_time is not None
            and r.end_time >= start
            and (end is None or r.end_time <= end)
            and (not wanted or r.state.value in wanted)
            and (not name or name.lower() in r.name.lower())
        ]

    async def efficiency(self, job_id: str) -> Efficiency:
        """Made-up but plausible efficiency for a finished job."""
        await self._enter("efficiency", job_id)
        record = next((r for r in self.records if r.job_id == job_id), None)
        if record is None:
            raise NotFound(f"No accounting record for job {job_id}.")
        return Efficiency(
            job_id=job_id,
            state=record.state,
            elapsed=record.elapsed or 0,
            alloc_cpus=2,
            total_cpu_seconds=15.2,
            cpu_efficiency=0.95,
            max_rss_mb=812.0,
            requested_mem_mb=8000.0,
            memory_efficiency=0.1015,
            gpus=0,
            gpu_efficiency=None,
        )

    async def start_estimate(self, job_id: str) -> StartEstimate | None:
        """An estimated start for pending jobs."""
        await self._enter("start_estimate", job_id)
        job = next((j for j in self.queue if j.job_id == job_id), None)
        if job is None or job.state is not JobState.PENDING:
            return None
        return StartEstimate(
            job_id=job_id,
            start_time=NOW + timedelta(hours=2, minutes=15),
            nodes="cas[001-003]",
            reason=job.reason,
        )

    async def batch_script(self, job_id: str) -> str | None:
        """The submitted script, when accounting kept it."""
        await self._enter("batch_script", job_id)
        return (
            "#!/bin/bash\n"
            f"#SBATCH -J job{job_id}\n"
            "#SBATCH -p cpu\n"
            "#SBATCH -n 2\n"
            "#SBATCH -o %j.out\n"
            "echo '[bold]not markup[/]'\n"
            "python train.py --epochs 10\n"
        )

    async def cancel(self, job_ids: Sequence[str]) -> list[CancelOutcome]:
        """Cancel my jobs; someone else's are refused per job, like scancel."""
        if self.read_only:
            raise Refused("suan runs read-only: cancelling jobs is disabled.")
        await self._enter("cancel", tuple(job_ids))
        outcomes: list[CancelOutcome] = []
        for job_id in job_ids:
            job = next((j for j in self.queue if j.job_id == job_id), None)
            if job is None:
                outcomes.append(CancelOutcome(job_id, False, None, "not in the queue"))
            elif job.user != ME:
                outcomes.append(CancelOutcome(job_id, False, job.state, "Access/permission denied"))
            else:
                self.queue.remove(job)
                self.records.insert(0, _record_from_job(job, JobState.CANCELLED))
                outcomes.append(CancelOutcome(job_id, True, JobState.CANCELLED, "cancelled"))
        return outcomes

    async def log_paths(self, job_id: str) -> LogPaths:
        """Where the job's stdout and stderr are, and which node reads them."""
        await self._enter("log_paths", job_id)
        detail = await self.job(job_id)
        if isinstance(detail, JobDetail):
            return LogPaths(
                stdout=detail.stdout,
                stderr=detail.stderr,
                group=detail.group,
                live=detail.state.is_active,
            )
        out = f"{detail.work_dir}/{detail.job_id}.out"
        return LogPaths(stdout=out, stderr=out, group=detail.group)

    async def open_log(
        self, job_id: str, which: Literal["stdout", "stderr"] = "stdout"
    ) -> RemoteFile:
        """A RemoteFile over the in-memory files for the job's stdout or stderr."""
        await self._enter("open_log", (job_id, which))
        path = self.log_path_now(job_id, which)
        return RemoteFile(self.logs, path)

    def log_path_now(self, job_id: str, which: str = "stdout") -> str:
        """The log path of a job without awaiting (the fake knows it synchronously)."""
        job = next((j for j in self.queue if j.job_id == job_id), None)
        if job is not None:
            detail = _detail_from_job(job, self.logs)
            return detail.stdout if which == "stdout" else detail.stderr
        record = next((r for r in self.records if r.job_id == job_id), None)
        if record is None:
            raise NotFound(f"Job {job_id} is not known to any cluster.")
        return f"{record.work_dir}/{record.job_id}.out"

    async def close(self) -> None:
        """Nothing to close; remembered for assertions."""
        self.closed = True

    def finish(self, job_id: str, state: JobState) -> None:
        """A job leaves the queue and lands in accounting in ``state`` (for notifications)."""
        job = next(j for j in self.queue if j.job_id == job_id)
        self.queue.remove(job)
        self.records.insert(0, _record_from_job(job, state))

    def set_state(self, job_id: str, state: JobState) -> None:
        """A job changes state but stays in the queue (e.g. COMPLETING → COMPLETED)."""
        self.queue = [replace(j, state=state) if j.job_id == job_id else j for j in self.queue]


def _record_from_job(job: Job, state: JobState) -> HistoryRecord:
    return HistoryRecord(
        job_id=job.job_id,
        name=job.name,
        user=job.user,
        account=job.account,
        partition=job.partition,
        state=state,
        exit_code="0:0" if state is JobState.COMPLETED else "1:0",
        submit_time=job.submit_time,
        start_time=job.start_time,
        end_time=NOW,
        elapsed=job.elapsed,
        time_limit=job.time_limit,
        num_nodes=job.num_nodes,
        num_cpus=job.num_cpus,
        nodelist=job.nodelist,
        work_dir=job.work_dir,
        submit_line="sbatch job.sh",
        cluster=job.cluster,
        group=job.group,
    )


# --- helpers for Pilot tests -----------------------------------------------------------


async def settle(pilot: Pilot[Any]) -> None:
    """Let messages and the (finite) workers of the app finish; never sleeps."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def until(
    pilot: Pilot[Any], condition: Callable[[], bool], *, timeout: float = 5.0, what: str = ""
) -> None:
    """Poll ``condition`` between UI turns until it holds; fail after ``timeout`` seconds.

    For things that wait on long-lived workers (a log being followed, a login waiting for
    approval), where ``wait_for_complete`` would never return.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.01)


def screen_text(app: App[Any]) -> str:
    """What the terminal shows right now, as plain text lines."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def region_text(app: App[Any], selector: str) -> str:
    """What the terminal shows inside one widget (a dialog over a screen, say)."""
    region = app.screen.query_one(selector).region
    lines = screen_text(app).split("\n")[region.y : region.bottom]
    return "\n".join(_cells(line, region.x, region.right) for line in lines)


def _cells(line: str, start: int, end: int) -> str:
    """The characters of ``line`` between two cell columns (CJK counts two cells)."""
    from rich.cells import cell_len

    out: list[str] = []
    column = 0
    for char in line:
        if start <= column < end:
            out.append(char)
        column += cell_len(char)
    return "".join(out)


@dataclass
class Recorded:
    """Notifications and bells an app produced (recorded by :func:`record`)."""

    notes: list[tuple[str, str, str]] = field(default_factory=list)
    """(title, message, severity) of every notification."""
    bells: int = 0

    def messages(self) -> str:
        """Every notification as one string, for ``in`` checks."""
        return "\n".join(f"{t}: {m}" for t, m, _ in self.notes)


def record(app: App[Any]) -> Recorded:
    """Record the app's notifications and bells (they still show as usual)."""
    recorded = Recorded()
    notify = app.notify
    bell = app.bell

    def recording_notify(
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        recorded.notes.append((title, message, str(severity)))
        notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def recording_bell() -> None:
        recorded.bells += 1
        bell()

    app.notify = recording_notify  # type: ignore[method-assign]
    app.bell = recording_bell  # type: ignore[method-assign]
    return recorded
