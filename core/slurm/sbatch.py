"""Submitting: ``sbatch --parsable`` with the script on stdin or as a remote file.

Every submission carries a comment tag (``suan:<uuid>``). If the connection drops after
sbatch ran but before its answer arrived, :func:`find_by_tag` tells whether the job
exists, so a retry does not submit it twice.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence

from core.errors import RemoteCommandError
from core.runner import CommandRunner
from core.slurm.common import command_error, run_slurm, slurm_message
from core.slurm.models import Job, SubmitResult
from core.slurm.squeue import list_jobs

TAG_PREFIX = "suan:"

_PARSABLE = re.compile(r"^(\d+)(?:;(\S+))?$")


def new_tag() -> str:
    """A fresh submission tag for ``--comment``."""
    return f"{TAG_PREFIX}{uuid.uuid4()}"


def sbatch_argv(
    *,
    script_path: str | None = None,
    partition: str | None = None,
    options: Sequence[str] = (),
    workdir: str | None = None,
    tag: str | None = None,
) -> list[str]:
    """``sbatch --parsable [--comment=TAG] [-p P] [--chdir=D] OPTIONS [SCRIPT]``.

    Without ``script_path`` sbatch reads the script from stdin. Our options come before
    the caller's, so an explicit option of the caller wins (sbatch keeps the last one).
    """
    argv = ["sbatch", "--parsable"]
    if tag:
        argv.append(f"--comment={tag}")
    if partition:
        argv.append(f"--partition={partition}")
    if workdir:
        argv.append(f"--chdir={workdir}")
    argv.extend(options)
    if script_path:
        argv.append(script_path)
    return argv


def parse_submit(stdout: str) -> tuple[str, str | None]:
    """``1234`` or ``1234;cluster`` (the last line sbatch printed) → (id, cluster)."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    for line in reversed(lines):
        match = _PARSABLE.match(line)
        if match:
            return match.group(1), match.group(2)
    raise RemoteCommandError("sbatch did not print a job id.", stderr=stdout[-2000:], exit_status=0)


def _hint(message: str) -> str | None:
    lowered = message.lower()
    if "invalid partition" in lowered:
        return (
            "The partition does not exist on this cluster. Each entry node submits only to "
            "the partitions of its own node group: check the partition name and group."
        )
    if "time limit" in lowered:
        return "Lower --time to the partition's limit (see the partition list)."
    if "invalid account" in lowered or "invalid qos" in lowered:
        return "Check --account and --qos."
    if "memory" in lowered and "specification" in lowered:
        return "Ask for less memory, or for a partition with larger nodes."
    if "gres" in lowered:
        return "Check --gres: GPUs are only in GPU partitions (e.g. --gres=gpu:1 on a100)."
    return None


async def submit(
    runner: CommandRunner,
    script: str | None = None,
    *,
    script_path: str | None = None,
    partition: str | None = None,
    options: Sequence[str] = (),
    workdir: str | None = None,
    tag: str | None = None,
    cluster: str,
    group: str,
    host: str,
    timeout: float | None = 60.0,
) -> SubmitResult:
    """Submit ``script`` (text, sent on stdin) or the remote file ``script_path``.

    A refusal is a RemoteCommandError carrying Slurm's own words, e.g. "Batch job
    submission failed: Invalid partition name specified".
    """
    if (script is None) == (script_path is None):
        raise ValueError("give exactly one of script and script_path")
    tag = tag if tag is not None else new_tag()
    argv = sbatch_argv(
        script_path=script_path, partition=partition, options=options, workdir=workdir, tag=tag
    )
    result = await run_slurm(runner, argv, input=script, timeout=timeout)
    if not result.ok:
        error = command_error(result, "Submitting the job")
        error.hint = _hint(slurm_message(result.stderr))
        raise error
    job_id, reported_cluster = parse_submit(result.stdout)
    return SubmitResult(
        job_id=job_id, cluster=reported_cluster or cluster, group=group, host=host, tag=tag
    )


async def find_by_tag(
    runner: CommandRunner,
    tag: str,
    *,
    cluster: str,
    group_of: Callable[[str], str],
    user: str | None = None,
) -> list[Job]:
    """The jobs (normally one) whose comment is ``tag``, in any state the queue keeps."""
    jobs = await list_jobs(runner, cluster=cluster, group_of=group_of, user=user, states=["all"])
    return [job for job in jobs if job.comment == tag]
