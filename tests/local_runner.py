"""A ``CommandRunner`` that runs argv on this machine as another user, for live tests.

``runuser -u USER -- env SLURM_CONF=... <argv>`` through an asyncio subprocess: no shell,
so the arguments reach Slurm exactly as the builders made them, as they would through a
runner that quotes every argument.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from core.errors import NetworkError
from core.runner import CommandResult


class LocalRunner:
    """Runs commands locally as ``user`` against the Slurm cluster of ``slurm_conf``."""

    def __init__(
        self,
        user: str = "hpcuser",
        slurm_conf: str | Path | None = None,
        *,
        cwd: str | Path | None = None,
        default_timeout: float = 60.0,
    ) -> None:
        self.user = user
        self.slurm_conf = str(slurm_conf) if slurm_conf is not None else None
        self.cwd = str(cwd) if cwd is not None else "/"
        self.default_timeout = default_timeout
        self.calls: list[tuple[str, ...]] = []

    def _command(self, argv: Sequence[str]) -> list[str]:
        env = ["env"]
        if self.slurm_conf:
            env.append(f"SLURM_CONF={self.slurm_conf}")
        return ["runuser", "-u", self.user, "--", *env, *argv]

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run ``argv``; a timeout kills the process and raises NetworkError."""
        self.calls.append(tuple(argv))
        environment = {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "LANG": "C.UTF-8",
            "HOME": self.cwd,
            "USER": self.user,
            "LOGNAME": self.user,
        }
        process = await asyncio.create_subprocess_exec(
            *self._command(argv),
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.cwd,
            env=environment,
        )
        data = input.encode() if input is not None else None
        try:
            stdout, stderr = await asyncio.wait_for(
                process.communicate(data), timeout or self.default_timeout
            )
        except TimeoutError:
            process.kill()
            await process.wait()
            raise NetworkError(f"{argv[0] if argv else 'command'} timed out") from None
        return CommandResult(
            argv=tuple(argv),
            exit_status=process.returncode if process.returncode is not None else -1,
            stdout=stdout.decode("utf-8", errors="replace"),
            stderr=stderr.decode("utf-8", errors="replace"),
        )


def as_user(user: str, slurm_conf: str | Path, home: str | Path | None = None) -> LocalRunner:
    """A runner for ``user`` on one cluster, working in ``home`` when it exists."""
    cwd = home if home is not None and os.path.isdir(home) else "/tmp"
    return LocalRunner(user, slurm_conf, cwd=cwd)
