"""The seam between the core and a transport: run one command on one host.

Everything above this (Slurm, storage, transfers) is written against ``CommandRunner``,
so unit tests feed it canned output and the live tests use a real SSH session.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a remote command printed and how it ended."""

    argv: tuple[str, ...]
    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class CommandRunner(Protocol):
    """Runs an argument vector on one host. Arguments are quoted by the runner, never pasted."""

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
    ) -> CommandResult: ...


def quote_argv(argv: Sequence[str]) -> str:
    """One shell line from an argument vector, every argument quoted."""
    return " ".join(shlex.quote(a) for a in argv)


def with_env(env: Mapping[str, str], argv: Sequence[str]) -> list[str]:
    """Prefix ``argv`` with ``env K=V ...`` so variables reach the command whatever the shell."""
    if not env:
        return list(argv)
    return ["env", *(f"{k}={v}" for k, v in env.items()), *argv]
