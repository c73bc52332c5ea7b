"""Daemons without systemd: start in their own session, record, check, stop by record only.

A record (``$TESTBED/pids/NAME.json``) holds the pid, the process start time and the
binary, so a recycled pid is never mistaken for our daemon, and a fingerprint of the
command and its config files, so a re-run restarts a daemon exactly when its config
changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class TestbedError(RuntimeError):
    """Something in the testbed did not come up; the message says what and where to look."""


@dataclass(frozen=True)
class Daemon:
    """How to run one daemon in the foreground.

    ``exe`` is the binary the process finally runs (after any ``unshare``/``sh`` exec
    chain); ``inputs`` are files whose content is part of the fingerprint.
    """

    name: str
    argv: tuple[str, ...]
    exe: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    inputs: tuple[Path, ...] = ()

    def fingerprint(self) -> str:
        """A digest of the command, its environment and its input files."""
        digest = hashlib.sha256()
        digest.update(json.dumps([self.argv, sorted(self.env.items()), self.user]).encode())
        for path in self.inputs:
            digest.update(str(path).encode())
            with contextlib.suppress(OSError):
                digest.update(path.read_bytes())
        return digest.hexdigest()


@dataclass(frozen=True)
class Record:
    """What was started: enough to find it again and to refuse a recycled pid."""

    name: str
    pid: int
    start_time: int
    exe: str
    fingerprint: str


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return text[text.rindex(")") + 2 :].split()


def process_state(pid: int) -> str | None:
    """The state letter of a process (``R``, ``S``, ``Z`` …), or None when it is gone."""
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def process_start_time(pid: int) -> int | None:
    """Start time in clock ticks since boot: unchanged by exec, different for a new process."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def process_exe(pid: int) -> str | None:
    """The binary a process runs (``/proc/PID/exe``), None when unreadable."""
    try:
        target = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
    return target.removesuffix(" (deleted)")


def _real(path: str) -> str:
    return os.path.realpath(path)


class Registry:
    """The pid records under one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[str] = []
        """Names of the daemons this registry (re)started, in order."""

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def load(self, name: str) -> Record | None:
        """The record of ``name``, if any."""
        try:
            data = json.loads(self._path(name).read_text())
        except (OSError, ValueError):
            return None
        return Record(
            name=name,
            pid=int(data["pid"]),
            start_time=int(data["start_time"]),
            exe=str(data["exe"]),
            fingerprint=str(data["fingerprint"]),
        )

    def names(self) -> list[str]:
        """Every recorded daemon."""
        if not self.directory.is_dir():
            return []
        return sorted(path.stem for path in self.directory.glob("*.json"))

    def dead(self) -> list[str]:
        """Recorded daemons that are no longer running (ended without ``stop``)."""
        return [name for name in self.names() if self.running(name) is None]

    def save(self, record: Record) -> None:
        """Write a record (atomically)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self._path(record.name).with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "pid": record.pid,
                    "start_time": record.start_time,
                    "exe": record.exe,
                    "fingerprint": record.fingerprint,
                }
            )
        )
        tmp.replace(self._path(record.name))

    def forget(self, name: str) -> None:
        """Drop a record."""
        self._path(name).unlink(missing_ok=True)

    def alive(self, record: Record, *, allow_exec_chain: bool = False) -> bool:
        """True when the recorded process still runs (not a zombie, not a recycled pid).

        ``allow_exec_chain`` accepts a process still on its way to ``exe`` (a wrapper that
        has not exec'd yet): the start time alone identifies it then.
        """
        state = process_state(record.pid)
        if state is None or state in ("Z", "X", "x"):
            return False
        if process_start_time(record.pid) != record.start_time:
            return False
        exe = process_exe(record.pid)
        return allow_exec_chain or (exe is not None and _real(exe) == _real(record.exe))

    def running(self, name: str) -> Record | None:
        """The record of ``name`` when its process is alive."""
        record = self.load(name)
        if record is not None and self.alive(record, allow_exec_chain=True):
            return record
        return None

    def start(self, daemon: Daemon) -> Record:
        """Start ``daemon`` in its own session, output appended to its log."""
        daemon.log.parent.mkdir(parents=True, exist_ok=True)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", **daemon.env}
        with open(daemon.log, "ab") as log:
            proc = subprocess.Popen(
                daemon.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd="/",
                start_new_session=True,
                user=daemon.user,
                group=daemon.user,
                extra_groups=[] if daemon.user else None,
            )
        start_time = process_start_time(proc.pid)
        if start_time is None:
            raise TestbedError(f"{daemon.name} exited at once; see {daemon.log}")
        record = Record(daemon.name, proc.pid, start_time, daemon.exe, daemon.fingerprint())
        self.save(record)
        self.started.append(daemon.name)
        return record

    def ensure(self, daemon: Daemon) -> tuple[Record, bool]:
        """Start ``daemon`` unless it runs with the same fingerprint; True when (re)started."""
        record = self.running(daemon.name)
        if record is not None and record.fingerprint == daemon.fingerprint():
            return record, False
        if record is not None:
            self.stop(daemon.name)
        return self.start(daemon), True

    def stop(self, name: str, timeout: float = 15.0) -> bool:
        """Stop the recorded daemon (TERM, then KILL after ``timeout``); True if it ran."""
        record = self.load(name)
        if record is None:
            return False
        ran = self.alive(record, allow_exec_chain=True)
        if ran:
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGTERM)
            if not wait_until(lambda: not self.alive(record, allow_exec_chain=True), timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(record.pid, signal.SIGKILL)
                wait_until(lambda: not self.alive(record, allow_exec_chain=True), 5.0)
        self.forget(name)
        return ran


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def require(predicate: Callable[[], bool], timeout: float, what: str, log: Path | None) -> None:
    """Like ``wait_until`` but raise a ``TestbedError`` naming ``what`` (and its log)."""
    if not wait_until(predicate, timeout):
        where = f"; see {log}" if log else ""
        raise TestbedError(f"timed out after {timeout:.0f} s waiting for {what}{where}")


def tcp_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def unix_open(path: Path) -> bool:
    """True when something accepts connections on a Unix socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            sock.connect(str(path))
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    """True when GET ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return int(response.status) == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


def run(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    check: bool = True,
    input_text: str | None = None,
    timeout: float = 60.0,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing text; ``TestbedError`` on failure if ``check``."""
    full_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    if env:
        full_env.update(env)
    try:
        proc = subprocess.run(
            list(argv),
            env=full_env,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as exc:
        raise TestbedError(f"{argv[0]} timed out after {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        output = (proc.stderr or proc.stdout).strip()[-2000:]
        raise TestbedError(f"{' '.join(argv[:4])} … exited {proc.returncode}: {output}")
    return proc


def rss_kib(pid: int) -> int:
    """Resident set size of one process in KiB (0 when gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0
