"""Captured real Slurm outputs (``data/*.json``, made by ``scripts/capture_slurm.py``).

``ReplayRunner`` answers a command with the captured output whose argv matches once the
per-call marker token is swapped, so the async functions run end to end without a
cluster, fresh random markers included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.runner import CommandResult
from core.slurm.env import slurm_argv
from core.slurm.markers import Marker

DATA = Path(__file__).parent / "data"
_TOKEN = re.compile(r"#S([0-9a-f]{16})[FR]#")


@dataclass(frozen=True)
class Captured:
    """One captured command and what it printed."""

    name: str
    argv: list[str]
    marker: Marker | None
    exit_status: int
    stdout: str
    stderr: str
    context: dict[str, Any]

    def result(self, argv: Sequence[str] | None = None, token: str | None = None) -> CommandResult:
        """The output as a CommandResult, the marker token swapped for ``token``."""
        stdout = self.stdout
        if token is not None and self.marker is not None:
            stdout = stdout.replace(self.marker.token, token)
        return CommandResult(
            argv=tuple(argv if argv is not None else self.argv),
            exit_status=self.exit_status,
            stdout=stdout,
            stderr=self.stderr,
        )


def load(name: str) -> Captured:
    """``data/<name>.json``."""
    raw = json.loads((DATA / f"{name}.json").read_text())
    return Captured(
        name=name,
        argv=raw["argv"],
        marker=Marker(raw["marker"]) if raw["marker"] else None,
        exit_status=raw["exit_status"],
        stdout=raw["stdout"],
        stderr=raw["stderr"],
        context=raw["context"],
    )


def _normalise(argv: Sequence[str]) -> tuple[tuple[str, ...], str | None]:
    """argv with its marker token replaced by a placeholder, and the token."""
    token = None
    out = []
    for item in argv:
        match = _TOKEN.search(item)
        if match:
            token = match.group(1)
            item = item.replace(token, "TOKEN")
        out.append(item)
    return tuple(out), token


@dataclass
class ReplayRunner:
    """A CommandRunner that answers from captures; unknown commands fail the test."""

    captures: list[Captured]
    calls: list[tuple[str, ...]] = field(default_factory=list)
    inputs: list[str | None] = field(default_factory=list)

    async def run(
        self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None
    ) -> CommandResult:
        self.calls.append(tuple(argv))
        self.inputs.append(input)
        wanted, token = _normalise(argv)
        for captured in self.captures:
            known, _ = _normalise(slurm_argv(captured.argv))
            if known == wanted:
                return captured.result(argv, token)
        raise AssertionError(f"no capture for {argv[-6:]}")


@dataclass
class ScriptedRunner:
    """A CommandRunner whose answers come from a function of the argv (and call count)."""

    answer: Callable[[tuple[str, ...], int], tuple[int, str, str]]
    calls: list[tuple[str, ...]] = field(default_factory=list)
    inputs: list[str | None] = field(default_factory=list)

    async def run(
        self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None
    ) -> CommandResult:
        self.calls.append(tuple(argv))
        self.inputs.append(input)
        status, stdout, stderr = self.answer(tuple(argv), len(self.calls))
        return CommandResult(tuple(argv), status, stdout, stderr)


def marker_in(argv: Sequence[str]) -> Marker:
    """The marker a builder put into ``argv`` (for scripted answers)."""
    for item in argv:
        match = _TOKEN.search(item)
        if match:
            return Marker(match.group(1))
    raise AssertionError("no marker in argv")


def program(argv: Sequence[str]) -> str:
    """The Slurm program of an argv made by ``slurm_argv``."""
    index = argv.index("SLURM_TIME_FORMAT=standard")
    return argv[index + 1]
