"""Drive a real terminal program in tmux: start it, type, read the screen, wait for text.

Each :class:`TmuxSession` runs its own tmux server on a private socket (``tmux -L``) with
no user config, so it neither sees nor disturbs the developer's tmux. The program gets
exactly the environment it is given (``env -i``), with ``TERM`` set explicitly since CI
has no TTY and no ``TERM`` to pass on. Waiting is done by polling the screen with a
deadline, never by sleeping a fixed time, and a timeout reports the last screen so a
failure explains itself.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

POLL_SECONDS = 0.1
"""How often :meth:`TmuxSession.wait_for` reads the screen."""

DEFAULT_TERM = "xterm-256color"

# remain-on-exit keeps a crashed program's last screen (a traceback) readable;
# no status line, so the program gets every row of the window.
_TMUX_CONF = """\
set -g remain-on-exit on
set -g status off
set -g history-limit 5000
set -g escape-time 0
"""


class TmuxError(AssertionError):
    """tmux failed, or the screen never showed what was awaited (the message has it)."""


def _tmux_env() -> dict[str, str]:
    """The environment of the tmux client commands themselves.

    ``TMUX`` is dropped so this works from inside a developer's tmux too; ``TERM`` is
    given because a tmux client started without one (CI) refuses some commands.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env.setdefault("TERM", DEFAULT_TERM)
    return env


class TmuxSession:
    """One program in one detached tmux window of a fixed size.

    Use as a context manager (or call :meth:`start` and :meth:`close`); closing kills the
    private tmux server and waits for the program to be gone.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        width: int = 100,
        height: int = 30,
        cwd: str | Path | None = None,
        term: str = DEFAULT_TERM,
    ) -> None:
        if not argv:
            raise ValueError("argv is empty")
        self.tmux = shutil.which("tmux") or "tmux"
        self.argv = list(argv)
        self.env = dict(env)
        self.env["TERM"] = term
        self.width = width
        self.height = height
        self.cwd = str(cwd) if cwd is not None else os.getcwd()
        self.socket = f"suan-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.target = "main"
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.pane_pid: int | None = None
        self.socket_path: Path | None = None
        self._status_file = Path(os.devnull)

    # --- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> TmuxSession:
        try:
            self.start()
        except BaseException:
            self.close()  # a half-started server or temporary directory is not left behind
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start the private tmux server with the program in its only window."""
        self._dir = tempfile.TemporaryDirectory(prefix="suan-tmux-")
        conf = Path(self._dir.name) / "tmux.conf"
        conf.write_text(_TMUX_CONF)
        self._status_file = Path(self._dir.name) / "exit-status"
        env_args = [f"{k}={v}" for k, v in sorted(self.env.items())]
        self._run(
            "-f",
            str(conf),
            "new-session",
            "-d",
            "-s",
            self.target,
            "-x",
            str(self.width),
            "-y",
            str(self.height),
            "-c",
            self.cwd,
            "--",
            "env",
            "-i",
            *env_args,
            # tmux does not always learn a program's exit status (it can see the pane's
            # end before the child's), so a shell records it in a file.
            "/bin/sh",
            "-c",
            '"$@"; echo "$?" > "$0"',
            str(self._status_file),
            *self.argv,
        )
        pid, _, socket_path = self._run(
            "display-message", "-p", "-t", self.target, "#{pane_pid} #{socket_path}"
        ).partition(" ")
        self.pane_pid = int(pid)
        self.socket_path = Path(socket_path)

    def close(self) -> None:
        """Kill the private tmux server and make sure the program is gone."""
        subprocess.run(
            [self.tmux, "-L", self.socket, "kill-server"],
            env=_tmux_env(),
            capture_output=True,
            check=False,
            timeout=10,
        )
        if self.pane_pid is not None:
            # The server hangs up on the program; one that ignores SIGHUP is killed. tmux
            # starts the pane's process as a session (and group) leader: the group is
            # the program and whatever it started.
            if not _wait_gone(self.pane_pid, 2.0):
                _kill_group(self.pane_pid, signal.SIGKILL)
                _wait_gone(self.pane_pid, 5.0)
            self.pane_pid = None
        if self.socket_path is not None:
            # A killed tmux server leaves its socket file behind.
            self.socket_path.unlink(missing_ok=True)
            self.socket_path = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    # --- tmux ------------------------------------------------------------------------

    def _run(self, *args: str, input: str | None = None) -> str:
        # -u: the screen is UTF-8 whatever the locale of this process (CJK job names).
        argv = [self.tmux, "-u", "-L", self.socket, *args]
        result = subprocess.run(
            argv,
            env=_tmux_env(),
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
        if result.returncode != 0:
            # Arguments are not repeated: send_secret's text must not reach a message.
            raise TmuxError(f"tmux {args[0]} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout.strip("\n")

    # --- input -----------------------------------------------------------------------

    def send_keys(self, *keys: str) -> None:
        """Keys by tmux name, one after another: ``"Enter"``, ``"Escape"``, ``"c"``, ``"C-r"``."""
        if keys:
            self._run("send-keys", "-t", self.target, *keys)

    def send_text(self, text: str) -> None:
        """Literal text, typed as is (no key-name lookup)."""
        if text:
            self._run("send-keys", "-t", self.target, "-l", "--", text)

    def send_secret(self, text: str) -> None:
        """Type a secret without putting it in any process's argv (``ps`` shows argv).

        The text goes to a tmux buffer through stdin and is pasted unbracketed (so the
        program sees plain typing), and the buffer is deleted by the paste.
        """
        if not text:
            return
        buffer = f"secret-{uuid.uuid4().hex[:8]}"
        self._run("load-buffer", "-b", buffer, "-", input=text)
        self._run("paste-buffer", "-d", "-b", buffer, "-t", self.target)

    # --- output ----------------------------------------------------------------------

    def capture(self, *, styled: bool = False) -> str:
        """The visible screen as plain text, one line per row.

        ``styled=True`` keeps the colour and attribute escapes (``capture-pane -e``): the
        only trace of some changes, such as which input has the focus.
        """
        if styled:
            return self._run("capture-pane", "-p", "-e", "-t", self.target)
        return self._run("capture-pane", "-p", "-t", self.target)

    def exit_status(self) -> int | None:
        """The program's exit status once it has exited (128+N after signal N), else None."""
        try:
            text = self._status_file.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def dead(self) -> bool:
        """True once the program (and the shell that waits for it) has exited."""
        return self._run("display-message", "-p", "-t", self.target, "#{pane_dead}") == "1"

    def wait_for(self, expected: str | re.Pattern[str], timeout: float = 15.0) -> str:
        """Poll the screen until it shows ``expected`` (text, or a regex searched for).

        Returns the screen that matched. Raises :class:`TmuxError` with the last screen
        when the deadline passes, or at once if the program exited.
        """

        def found(screen: str) -> bool:
            if isinstance(expected, str):
                return expected in screen
            return expected.search(screen) is not None

        return self._poll(found, _describe(expected), timeout)

    def wait_until_gone(self, unexpected: str | re.Pattern[str], timeout: float = 15.0) -> str:
        """Poll until the screen no longer shows ``unexpected``; returns that screen."""

        def gone(screen: str) -> bool:
            if isinstance(unexpected, str):
                return unexpected not in screen
            return unexpected.search(screen) is None

        return self._poll(gone, f"{_describe(unexpected)} to go away", timeout)

    def wait_until(
        self,
        check: Callable[[str], bool],
        what: str,
        timeout: float = 15.0,
        *,
        styled: bool = False,
    ) -> str:
        """Poll until ``check(screen)`` is true; ``what`` names the wait in the error."""
        return self._poll(check, what, timeout, styled=styled)

    def wait_exit(self, timeout: float = 15.0) -> int:
        """Wait for the program to exit; its exit status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.exit_status()
            if status is not None and self.dead():
                return status
            if time.monotonic() > deadline:
                raise TmuxError(
                    f"the program did not exit within {timeout:.0f} s; last screen:\n"
                    + _framed(self.capture())
                )
            time.sleep(POLL_SECONDS)

    def _poll(
        self, ok: Callable[[str], bool], what: str, timeout: float, *, styled: bool = False
    ) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while True:
            screen = self.capture(styled=styled)
            if ok(screen):
                return screen
            if self.dead():
                raise TmuxError(
                    f"the program exited (status {self.exit_status()}) while waiting for {what}; "
                    "last screen:\n" + _framed(self.capture())
                )
            if time.monotonic() > deadline:
                raise TmuxError(
                    f"timed out after {timeout:.1f} s waiting for {what}; last screen:\n"
                    + _framed(self.capture() if styled else screen)
                )
            time.sleep(POLL_SECONDS)


def _describe(expected: str | re.Pattern[str]) -> str:
    return repr(expected) if isinstance(expected, str) else f"/{expected.pattern}/"


def _framed(screen: str) -> str:
    lines = screen.splitlines() or [""]
    width = max(len(line) for line in lines)
    rule = "+" + "-" * (width + 2) + "+"
    return "\n".join([rule, *(f"| {line.ljust(width)} |" for line in lines), rule])


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """True while a live process (not a zombie) is in process group ``pgid``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # Fields after the command name (which may hold spaces): state, ppid, pgrp.
        fields = stat.rpartition(")")[2].split()
        if len(fields) >= 3 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def _wait_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _group_alive(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True
