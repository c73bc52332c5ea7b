"""What every Slurm command here shares: running with a neutral environment, wording failures."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.errors import RemoteCommandError, SuanError
from core.runner import CommandResult, CommandRunner
from core.slurm.env import slurm_argv

#: Seconds a query may take before the call gives up (a wedged slurmctld answers slowly).
DEFAULT_TIMEOUT = 60.0

#: Slurm's way of saying a job id is unknown to the controller.
INVALID_JOB = "Invalid job id specified"


async def run_slurm(
    runner: CommandRunner,
    argv: Sequence[str],
    *,
    input: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> CommandResult:
    """Run a Slurm command through ``runner`` with the environment neutralised."""
    return await runner.run(slurm_argv(argv), input=input, timeout=timeout)


def slurm_message(stderr: str) -> str:
    """Slurm's complaint without the ``sbatch: error:`` prefixes, one line per message."""
    lines: list[str] = []
    for raw in stderr.splitlines():
        line = raw.strip()
        if not line:
            continue
        for prefix in (": error: ", ": fatal: ", ": warning: "):
            head, sep, tail = line.partition(prefix)
            if sep and " " not in head:
                line = tail
                break
        lines.append(line)
    return "; ".join(lines)


def command_error(result: CommandResult, what: str) -> RemoteCommandError:
    """A worded failure for a Slurm command that exited non-zero."""
    program = _program(result.argv)
    if result.exit_status == 127:
        return RemoteCommandError(
            f"{what} failed: {program} is not installed on this node.",
            exit_status=result.exit_status,
            stderr=result.stderr,
        )
    detail = slurm_message(result.stderr) or slurm_message(result.stdout)
    if detail:
        message = f"{what} failed: {detail}"
    else:
        message = f"{what} failed ({program} exited {result.exit_status})."
    return RemoteCommandError(message, exit_status=result.exit_status, stderr=result.stderr)


def _program(argv: Sequence[str]) -> str:
    """The Slurm program in an argv built by :func:`core.slurm.env.slurm_argv`."""
    skip_next = False
    for item in argv:
        if skip_next:
            skip_next = False
            continue
        if item == "env":
            continue
        if item == "-u":
            skip_next = True
            continue
        if "=" in item and not item.startswith("-"):
            continue
        return item
    return argv[0] if argv else "?"


def safe_group(group_of: Callable[[str], str], partition: str, fallback: str) -> str:
    """The site group of a partition; ``fallback`` when the site does not know it.

    A pending job may list several partitions (``cpu,debug``): the first decides.
    """
    first = partition.split(",", 1)[0].strip()
    try:
        return group_of(first)
    except SuanError:
        return fallback
