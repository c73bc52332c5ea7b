"""Regenerate the SVG screenshots of every screen against the seeded live testbed.

Run from the repository root with the testbed up (``bash tests/testbed/up.sh --seed``)::

    .venv/bin/python -m screenshots.make            # every picture, into screenshots/
    .venv/bin/python -m screenshots.make --out /tmp/shots --only jobs log

The real facade (``core.service.Suan``) drives ``tui.app.SuanApp`` in Textual's headless
test mode at 100×30. It starts from a fresh, empty data directory, so the first pictures
are the real login and second-factor screens; the script approves the request through the
API stand-in's control URL, as a phone would. The password typed for the login picture is
a placeholder (masked anyway), the real one is typed afterwards and never pictured; the
data directory with the token and key is deleted at the end.

As deterministic as a live cluster allows: the app's clock is frozen at the start (ages
read "0 s ago", the certificate's time left does not tick), the history is narrowed to the
seeded jobs, no notification is in a picture. Slurm's own elapsed times and dates change
from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

from core.config import load_config
from core.service import Suan
from core.slurm.models import JobState
from tests.testbed_env import TestbedEnv, load_testbed_env
from tui.app import SuanApp
from tui.base import SuanInput
from tui.screens.confirm import ConfirmCancelScreen
from tui.screens.detail import JobDetailScreen
from tui.screens.help import HelpScreen
from tui.screens.history import HistoryScreen
from tui.screens.jobs import JobsScreen
from tui.screens.login import LoginScreen, SecondFactorScreen
from tui.screens.logs import LogScreen
from tui.screens.partitions import PartitionsScreen

OUT = Path(__file__).resolve().parent
SIZE = (100, 30)
STEP_SECONDS = 60.0
"""The longest any one step may take (a login, a query over SSH) on a busy machine."""

PLACEHOLDER = "x" * 12
"""What the login picture's masked field holds (the real password is never pictured)."""

SEEDED_FINISHED = (
    "seed-completed",
    "seed-failed",
    "seed-cancelled",
    "seed-timeout",
    "seed-cpuburn",
    "colour-log",
    "seed-sy-completed",
)
"""Names of the seeded jobs that end quickly (``tests/testbed/seed.py``): the history."""

SHOTS: dict[str, str] = {
    "login": "Login: profile, username, masked password",
    "second-factor": "Waiting for the second factor",
    "jobs": "Jobs: mine, live",
    "jobs-everyone": "Jobs: everyone's",
    "cancel-confirm": "Cancel confirmation naming every job",
    "help": "Help: the keys of the screen",
    "detail-pending": "Job detail: a pending job and its reason in words",
    "detail-finished": "Job detail: a finished job with its efficiency",
    "partitions": "Partitions",
    "history": "History (sacct)",
    "log": "Log viewer: a colour log",
    "storage": "Storage explorer (key 4)",
    "transfers": "Transfers (key 5)",
}
"""Every picture, by file stem, with what it shows (``screenshots/README.md`` lists them)."""


class Shooter:
    """Takes the pictures of one app run, waiting for the screen to settle first."""

    def __init__(self, pilot: Pilot[Any], out: Path, only: set[str]) -> None:
        self.pilot = pilot
        self.out = out
        self.only = only
        self.taken: list[Path] = []

    @property
    def app(self) -> SuanApp:
        """The app, typed."""
        app = self.pilot.app
        assert isinstance(app, SuanApp)
        return app

    def wants(self, name: str) -> bool:
        """Whether this run takes the picture ``name``."""
        return not self.only or name in self.only

    async def settle(self) -> None:
        """Let messages and the running (finite) workers finish; never a fixed sleep."""
        await self.pilot.pause()
        await self.app.workers.wait_for_complete()
        await self.pilot.pause()

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        """Poll ``condition`` between UI turns, failing after :data:`STEP_SECONDS`."""
        deadline = time.monotonic() + STEP_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit(f"screenshots: timed out waiting for {what}")
            await self.pilot.pause(0.05)

    def shows(self, text: str) -> Callable[[], bool]:
        """A condition: the screen shows ``text``."""
        return lambda: text in screen_text(self.app)

    def in_mode(self, mode: str) -> Callable[[], bool]:
        """A condition: the app is in the view (mode) ``mode``."""
        return lambda: self.app.current_mode == mode

    async def screen_is(self, kind: type[Screen[Any]]) -> Screen[Any]:
        """Wait for a screen of ``kind`` on top; return it."""
        await self.until(lambda: isinstance(self.app.screen, kind), kind.__name__)
        return self.app.screen

    async def shot(self, name: str, *, settle: bool = True) -> None:
        """Save ``name``.svg (no toast in the picture)."""
        if not self.wants(name):
            return
        if settle:
            await self.settle()
        self.app.clear_notifications()
        await self.pilot.pause()
        path = self.app.save_screenshot(filename=f"{name}.svg", path=str(self.out))
        self.taken.append(Path(path))
        print(f"  {name}.svg", file=sys.stderr)

    async def press(self, *keys: str) -> None:
        """Press keys one at a time, letting each be handled before the next."""
        for key in keys:
            await self.pilot.press(key)
            await self.pilot.pause()

    async def type_into(self, field: SuanInput, text: str) -> None:
        """Type ``text`` key by key and wait until the field holds all of it."""
        await self.press(*text)
        await self.until(lambda: field.value.endswith(text), "the typed text")


def screen_text(app: App[Any]) -> str:
    """What the terminal shows right now, as plain text (for waiting on content)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


async def approve(testbed: TestbedEnv, user: str) -> None:
    """Approve ``user``'s pending second factor through the stand-in's control URL."""
    deadline = time.monotonic() + STEP_SECONDS
    async with httpx.AsyncClient(base_url=testbed.control_url.rstrip("/"), timeout=10) as c:
        while True:
            response = await c.get("/pending")
            response.raise_for_status()
            mine = [item for item in response.json() if item["user"] == user]
            for item in mine:
                (await c.post("/approve", json={"id": item["id"]})).raise_for_status()
            if mine:
                return
            if time.monotonic() > deadline:
                raise SystemExit("screenshots: no second-factor request to approve")
            await asyncio.sleep(0.1)


async def login(s: Shooter, testbed: TestbedEnv, user: str) -> None:
    """The login and second-factor pictures, and a real login."""
    await s.screen_is(LoginScreen)
    await s.settle()
    field = s.app.screen.query_one("#login-password", SuanInput)
    await s.type_into(field, PLACEHOLDER)
    await s.shot("login")
    field.value = ""
    await s.type_into(field, testbed.password(user))
    await s.press("enter")
    factor = await s.screen_is(SecondFactorScreen)
    assert isinstance(factor, SecondFactorScreen)
    await s.until(lambda: factor.stage == "approval", "the approval stage")
    await s.pilot.pause()
    await s.shot("second-factor", settle=False)  # the login worker waits: do not wait on it
    await approve(testbed, user)
    await s.until(lambda: factor.cert is not None, "the certificate")
    await s.press("enter")


async def jobs(s: Shooter) -> None:
    """My jobs, everyone's, a cancel confirmation (refused) and the help."""
    screen = await s.screen_is(JobsScreen)
    assert isinstance(screen, JobsScreen)
    await s.until(lambda: bool(screen.jobs), "my jobs")
    await s.shot("jobs")

    await s.press("a")
    await s.until(lambda: screen.table.show_user and bool(screen.jobs), "everyone's jobs")
    await s.shot("jobs-everyone")
    await s.press("a")
    await s.until(lambda: not screen.table.show_user, "my jobs again")
    await s.settle()

    if s.wants("cancel-confirm"):
        # Two tasks of the seeded array, one pending and one running (the dialog warns).
        await s.press("slash")
        await s.type_into(screen.query_one("#jobs-filter", SuanInput), "seed-array")
        await s.press("enter")
        await s.until(lambda: screen.table.row_count > 1, "the array's tasks")
        tasks = [j for j in screen.table.jobs if j.name == "seed-array"]
        pending = next(j for j in tasks if j.state is JobState.PENDING)
        running = next(j for j in tasks if j.state is JobState.RUNNING)
        for job in (pending, running):
            screen.table.select_job(job.key)
        await s.until(lambda: len(screen.table.selected) == 2, "two marked tasks")
        await s.press("c")
        await s.screen_is(ConfirmCancelScreen)
        await s.shot("cancel-confirm")
        await s.press("n")  # nothing is cancelled
        await s.screen_is(JobsScreen)
        screen.table.clear_selection()
        await s.press("escape")
        await s.until(lambda: not screen.table.filter_text, "the filter cleared")
        await s.settle()

    await s.press("question_mark")
    await s.screen_is(HelpScreen)
    await s.shot("help")
    await s.press("escape")
    await s.screen_is(JobsScreen)


async def details(s: Shooter, seeded: dict[str, str]) -> None:
    """A pending job with its reason, and a finished one with its efficiency."""
    for name, key in (("detail-pending", "pi_dependency"), ("detail-finished", "pi_cpuburn")):
        if not s.wants(name):
            continue
        job_id = seeded[key]
        await s.app.push_screen(JobDetailScreen(job_id, view="jobs"))
        await s.screen_is(JobDetailScreen)
        await s.until(s.shows(job_id), f"job {job_id}")
        await s.shot(name)
        await s.press("escape")
        await s.screen_is(JobsScreen)


async def partitions_history_log(s: Shooter, seeded: dict[str, str]) -> None:
    """Partitions, the history narrowed to the seeded jobs, and the colour log."""
    await s.press("2")
    await s.screen_is(PartitionsScreen)
    await s.settle()
    await s.shot("partitions")

    await s.press("3")
    history = await s.screen_is(HistoryScreen)
    assert isinstance(history, HistoryScreen)
    await s.until(lambda: history.loaded is not None, "the history")
    # Only the seeded jobs (sacct's --name takes a list of exact names): other tests'
    # jobs come and go.
    await s.press("slash")
    await s.type_into(history.query_one("#history-name", SuanInput), ",".join(SEEDED_FINISHED))
    await s.press("enter")
    await s.until(
        lambda: bool(history.records) and all(r.name in SEEDED_FINISHED for r in history.records),
        "the seeded history",
    )
    await s.shot("history")

    if s.wants("log"):
        colour = seeded["pi_colour_log"]
        await s.app.push_screen(LogScreen(colour, "stdout", view="history"))
        await s.screen_is(LogScreen)
        await s.until(s.shows("ERROR"), "the colour log")
        await s.shot("log", settle=False)  # the viewer's poll timer never completes
        await s.press("escape")
        await s.screen_is(HistoryScreen)


async def later_views(s: Shooter) -> None:
    """Storage (4) and transfers (5), when the app has them."""
    for key, name in (("4", "storage"), ("5", "transfers")):
        view = next((v for v in s.app.views if v.key == key), None)
        if view is None:
            print(f"  {name}.svg skipped: no view on key {key} yet", file=sys.stderr)
            continue
        if not s.wants(name):
            continue
        await s.press(key)
        await s.until(s.in_mode(view.name), f"view {name}")
        await s.settle()
        await s.until(lambda: "loading" not in screen_text(s.app).lower(), f"{name} loaded")
        await s.shot(name)


async def make(out: Path, only: set[str]) -> list[Path]:
    """Log in through a fresh data directory and take every picture into ``out``."""
    testbed = load_testbed_env()
    if testbed is None:
        raise SystemExit("screenshots: the testbed is not up (bash tests/testbed/up.sh --seed)")
    seeded = testbed.seeded()
    frozen = datetime.now(UTC).replace(second=0, microsecond=0)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="suan-shots-") as data_dir:
        profile = load_config(testbed.config_path).profile("testbed")
        profile = dataclasses.replace(profile, data_dir=Path(data_dir))
        suan = Suan(profile)
        app = SuanApp(suan, clock=lambda: frozen)
        try:
            async with app.run_test(size=SIZE) as pilot:
                shooter = Shooter(pilot, out, only)
                await login(shooter, testbed, profile.username)
                await jobs(shooter)
                await details(shooter, seeded)
                await partitions_history_log(shooter, seeded)
                await later_views(shooter)
                app.exit()
        finally:
            await suan.close()
    return shooter.taken


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m screenshots.make [--out DIR] [--only NAME ...]``."""
    parser = argparse.ArgumentParser(prog="python -m screenshots.make", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT, help="directory for the SVGs")
    parser.add_argument("--only", nargs="+", choices=sorted(SHOTS), default=[], metavar="NAME")
    args = parser.parse_args(argv)
    print(f"screenshots into {args.out}:", file=sys.stderr)
    taken = asyncio.run(make(args.out, set(args.only)))
    print(f"{len(taken)} screenshots", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
