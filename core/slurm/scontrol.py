"""One job in detail: ``scontrol -o show job ID``.

In one-line mode scontrol prints ``Key=Value`` pairs separated by single spaces, but
values may themselves hold spaces and ``Key=``-looking text: a job name, the command and
the log paths are whatever the user chose. The parser therefore only cuts at keys it
knows, in the order scontrol prints them (the longest chain of known keys in that order
wins), so a name such as ``a UserId=b`` stays one name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import tzinfo

from core.errors import NotFound
from core.runner import CommandRunner
from core.slurm.common import INVALID_JOB, command_error, run_slurm, safe_group
from core.slurm.models import JobDetail, JobState
from core.slurm.units import parse_duration, parse_timestamp

#: The keys of ``scontrol show job`` in the order Slurm 22.05 prints them (optional ones
#: included where they go). Order matters: it is what separates a key from look-alike
#: text inside a value.
KEY_ORDER: tuple[str, ...] = (
    "JobId",
    "ArrayJobId",
    "ArrayTaskId",
    "ArrayTaskThrottle",
    "HetJobId",
    "HetJobOffset",
    "HetJobIdSet",
    "JobName",
    "UserId",
    "GroupId",
    "MCS_label",
    "Priority",
    "Nice",
    "Account",
    "QOS",
    "WCKey",
    "JobState",
    "Reason",
    "Dependency",
    "Requeue",
    "Restarts",
    "BatchFlag",
    "Reboot",
    "ExitCode",
    "DerivedExitCode",
    "RunTime",
    "TimeLimit",
    "TimeMin",
    "SubmitTime",
    "EligibleTime",
    "AccrueTime",
    "ResizeTime",
    "StartTime",
    "EndTime",
    "Deadline",
    "PreemptEligibleTime",
    "PreemptTime",
    "SuspendTime",
    "SecsPreSuspend",
    "LastSchedEval",
    "Scheduler",
    "Partition",
    "AllocNode:Sid",
    "ReqNodeList",
    "ExcNodeList",
    "NodeList",
    "SchedNodeList",
    "BatchHost",
    "NumNodes",
    "NumCPUs",
    "NumTasks",
    "CPUs/Task",
    "ReqB:S:C:T",
    "ReplaceTRES",
    "TRES",
    "Socks/Node",
    "NtasksPerN:B:S:C",
    "CoreSpec",
    "MinCPUsNode",
    "MinMemoryCPU",
    "MinMemoryNode",
    "MinTmpDiskNode",
    "Features",
    "ClusterFeatures",
    "Reservation",
    "DelayBoot",
    "OverSubscribe",
    "Contiguous",
    "Licenses",
    "Network",
    "Command",
    "WorkDir",
    "AdminComment",
    "SystemComment",
    "Comment",
    "StdErr",
    "StdIn",
    "StdOut",
    "BurstBuffer",
    "BurstBufferState",
    "CpuFreqMin",
    "CpuFreqMax",
    "CpuFreqGov",
    "Power",
    "CpusPerTres",
    "MemPerTres",
    "TresBind",
    "TresFreq",
    "TresPerJob",
    "TresPerNode",
    "TresPerSocket",
    "TresPerTask",
    "MailUser",
    "MailType",
    "NtasksPerTRES",
)
_RANK = {key: i for i, key in enumerate(KEY_ORDER)}

#: Keys whose values are free text (may hold spaces and ``Key=`` look-alikes). A key
#: this module does not know is only recognised inside the value of another key.
FREE_TEXT_KEYS = frozenset(
    {
        "JobName",
        "Command",
        "WorkDir",
        "AdminComment",
        "SystemComment",
        "Comment",
        "StdErr",
        "StdIn",
        "StdOut",
        "BurstBuffer",
        "MailUser",
    }
)

_KEY = re.compile(r"(?:^|(?<= ))([A-Za-z][A-Za-z0-9_:/()\-.]*)=")
_RECORD_START = re.compile(r"\n(?=JobId=\d+ )")


def scontrol_argv(job_id: str) -> list[str]:
    """``scontrol -o show job ID``."""
    return ["scontrol", "-o", "show", "job", job_id]


def parse_fields(line: str) -> dict[str, str]:
    """Every ``Key=Value`` of one ``scontrol -o`` record, values exactly as printed."""
    line = line.rstrip("\n")
    candidates = [(m.start(), m.end(), m.group(1)) for m in _KEY.finditer(line)]
    known = [c for c in candidates if c[2] in _RANK]
    chosen = _longest_ordered_chain(known)
    if not chosen or chosen[0][0] != 0:
        # Not a record that starts with a key we know: take every key-looking cut.
        chosen = candidates
    fields: dict[str, str] = {}
    for index, (_start, end, key) in enumerate(chosen):
        stop = chosen[index + 1][0] - 1 if index + 1 < len(chosen) else len(line)
        value = line[end:stop]
        if key not in FREE_TEXT_KEYS:
            # A key this module does not know yet (a newer Slurm) inside a value that
            # never holds spaces is its own field.
            extra = _split_unknown(value)
            value = extra.pop("", value)
            fields.update({k: v.strip(" ") for k, v in extra.items() if k not in fields})
            fields[key] = value.strip(" ")
        elif key == "Comment" and value.endswith(" "):
            # scontrol ends the Comment part with a space of its own before the next key.
            fields[key] = value[:-1]
        else:
            fields[key] = value
    return fields


def _split_unknown(value: str) -> dict[str, str]:
    """``a B=c D=e`` → ``{"": "a", "B": "c", "D": "e"}``; no keys → ``{}``."""
    matches = [m for m in _KEY.finditer(value) if m.start() > 0]
    if not matches:
        return {}
    out = {"": value[: matches[0].start() - 1]}
    for index, match in enumerate(matches):
        stop = matches[index + 1].start() - 1 if index + 1 < len(matches) else len(value)
        out[match.group(1)] = value[match.end() : stop]
    return out


def _longest_ordered_chain(
    candidates: list[tuple[int, int, str]],
) -> list[tuple[int, int, str]]:
    """The longest run of candidates whose keys follow :data:`KEY_ORDER`.

    Ties go to later positions: a look-alike inside a free-text value comes before the
    real key it imitates, so the real one (the later) is kept.
    """
    if not candidates:
        return []
    count = len(candidates)
    best = [1] * count
    previous = [-1] * count
    for i in range(count):
        rank_i = _RANK[candidates[i][2]]
        for j in range(i):
            if _RANK[candidates[j][2]] < rank_i and best[j] + 1 >= best[i]:
                best[i] = best[j] + 1
                previous[i] = j
    length = max(best)
    # The chain must start at the first key (JobId at position 0) when it can.
    end = max(i for i in range(count) if best[i] == length)
    chain: list[tuple[int, int, str]] = []
    while end != -1:
        chain.append(candidates[end])
        end = previous[end]
    chain.reverse()
    return chain


def split_records(text: str) -> list[str]:
    """One string per job; a name with a newline stays inside its record."""
    return [r for r in _RECORD_START.split(text.strip("\n")) if r.strip()]


def _null(value: str) -> str:
    return "" if value in ("(null)", "N/A") else value


def _user(value: str) -> str:
    """``hpcuser(5001)`` → ``hpcuser``."""
    return value.split("(", 1)[0]


def _count(value: str) -> int:
    """``4`` or a range such as ``1-1`` (pending jobs) → its first number."""
    match = re.match(r"\d+", value)
    return int(match.group(0)) if match else 0


def detail_from_fields(
    fields: dict[str, str],
    *,
    cluster: str,
    group_of: Callable[[str], str],
    tz: tzinfo | None = None,
) -> JobDetail:
    """A typed :class:`JobDetail` from parsed fields; every field is kept in ``.fields``."""
    get = fields.get
    array_job = _null(get("ArrayJobId", ""))
    array_task = _null(get("ArrayTaskId", ""))
    job_id = get("JobId", "")
    if array_job and array_task:
        # What squeue and scancel call this task; the numeric JobId stays in fields.
        job_id = f"{array_job}_{array_task}"
    partition = get("Partition", "")
    return JobDetail(
        job_id=job_id,
        name=get("JobName", ""),
        user=_user(get("UserId", "")),
        account=_null(get("Account", "")),
        partition=partition,
        state=JobState.parse(get("JobState", "")),
        reason=get("Reason", ""),
        stdout=_null(get("StdOut", "")),
        stderr=_null(get("StdErr", "")),
        work_dir=_null(get("WorkDir", "")),
        command=_null(get("Command", "")),
        dependency=_null(get("Dependency", "")),
        submit_time=parse_timestamp(get("SubmitTime", ""), tz),
        start_time=parse_timestamp(get("StartTime", ""), tz),
        end_time=parse_timestamp(get("EndTime", ""), tz),
        time_limit=parse_duration(get("TimeLimit", "")),
        run_time=parse_duration(get("RunTime", "")),
        num_nodes=_count(get("NumNodes", "")),
        num_cpus=_count(get("NumCPUs", "")),
        nodelist=_null(get("NodeList", "")),
        tres=_null(get("TRES", "")),
        exit_code=get("ExitCode", ""),
        cluster=cluster,
        group=safe_group(group_of, partition, cluster),
        array_job_id=array_job or None,
        array_task_id=array_task or None,
        fields=dict(fields),
    )


def parse_show_job(
    text: str,
    job_id: str,
    *,
    cluster: str,
    group_of: Callable[[str], str],
    tz: tzinfo | None = None,
) -> JobDetail:
    """The record for ``job_id`` (``1234`` or ``1234_5``) in ``scontrol -o show job`` output.

    Raises NotFound when no record is there.
    """
    parsed = [parse_fields(record) for record in split_records(text)]
    parsed = [fields for fields in parsed if "JobId" in fields]
    if not parsed:
        raise NotFound(f"Job {job_id} is not known to the controller.")
    chosen = parsed[0]
    for fields in parsed:
        task = f"{fields.get('ArrayJobId', '')}_{fields.get('ArrayTaskId', '')}"
        if job_id in (fields["JobId"], task):
            chosen = fields
            break
    return detail_from_fields(chosen, cluster=cluster, group_of=group_of, tz=tz)


async def show_job(
    runner: CommandRunner,
    job_id: str,
    *,
    cluster: str,
    group_of: Callable[[str], str],
    tz: tzinfo | None = None,
) -> JobDetail:
    """``scontrol -o show job ID`` as a :class:`JobDetail`.

    Raises NotFound for a job the controller does not know (never existed, or finished
    longer ago than MinJobAge: ask sacct then).
    """
    result = await run_slurm(runner, scontrol_argv(job_id))
    if not result.ok:
        if INVALID_JOB in result.stderr or INVALID_JOB in result.stdout:
            raise NotFound(f"Job {job_id} is not known to the controller of {cluster}.")
        raise command_error(result, f"Showing job {job_id}")
    return parse_show_job(result.stdout, job_id, cluster=cluster, group_of=group_of, tz=tz)


def batch_script_argv(job_id: str) -> list[str]:
    """``scontrol write batch_script ID -``: the script of a job still in the controller."""
    return ["scontrol", "write", "batch_script", job_id, "-"]
