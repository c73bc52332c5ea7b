"""LogView over a 1 GB log: time until the last screen shows, memory while following.

Writes (once, then reuses) a synthetic 1 GB log with SGR colours and carriage-return
progress lines, serves it through a FileAccess over the local file (``pread``, as SFTP
reads by range), opens it in a headless app (80×24) and prints:

* time until the last screen is drawn (goal ≤ 1 s) and the bytes read to get there;
* RSS after opening, then while following 64 MB appended in 1 MB steps, with the time
  from each append until its last line is on screen;
* with ``--full``: time to index the whole file (``g``), and RSS after.

``python -m bench.log_viewer [--full] [--size-mb N]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.strip import Strip

from core.logs import LocalFileAccess, RemoteFile
from widgets.log_view import LogView

GOAL_LAST_SCREEN = 1.0


class CountingAccess(LocalFileAccess):
    """Local reads, counted."""

    def __init__(self) -> None:
        self.bytes_read = 0

    async def read(self, path: str, offset: int, length: int) -> bytes:
        """Up to *length* bytes at *offset*, counted."""
        data = await super().read(path, offset, length)
        self.bytes_read += len(data)
        return data


class TimedView(LogView):
    """A LogView that notes when it last drew a line with text."""

    last_text_render = 0.0

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self.loaded and strip.text.strip():
            TimedView.last_text_render = time.perf_counter()
        return strip


class Host(App[None]):
    """A headless app holding the view."""

    CSS = "TimedView { height: 1fr; }"

    def __init__(self, remote: RemoteFile) -> None:
        super().__init__()
        self.remote = remote

    def compose(self) -> ComposeResult:
        yield TimedView(self.remote, interval=0.05)


def block(number: int) -> bytes:
    """About 1 MiB of log lines, numbered from *number*."""
    lines = []
    for i in range(12_000):
        n = number * 12_000 + i
        if i % 1000 == 999:
            lines.append(f"epoch {n} 10%|#  \r epoch {n} 50%|##### \r epoch {n} 100%|##########")
        elif i % 250 == 0:
            lines.append(f"\x1b[33mWARN\x1b[0m step {n:10d} 训练 slow data loader")
        else:
            lines.append(f"\x1b[32mINFO\x1b[0m step {n:10d} loss={(n % 9973) / 9973:.6f} lr=3e-4")
    lines.append(f"block {number} done")
    return ("\n".join(lines) + "\n").encode()


def synthetic_log(size_mb: int) -> Path:
    """The synthetic log (written once, then reused)."""
    path = Path(tempfile.gettempdir()) / f"suan-bench-log-{size_mb}mb.log"
    target = size_mb << 20
    if path.exists() and path.stat().st_size >= target:
        return path
    part = path.with_suffix(".part")
    with part.open("wb") as out:
        written = 0
        number = 0
        while written < target:
            data = block(number)
            out.write(data)
            written += len(data)
            number += 1
    part.rename(path)
    return path


def rss_mb() -> float:
    """Current resident set size, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    """Peak resident set size, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def wait_for(
    condition: Callable[[], bool], pilot: Pilot[None], timeout: float = 60.0
) -> None:
    """Poll *condition* while the app runs."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the view did not get there in time")
        await pilot.pause(0.005)


async def run(path: Path, full: bool) -> dict[str, float]:
    """Measure; return the figures."""
    figures: dict[str, float] = {"size_mb": path.stat().st_size / (1 << 20)}
    access = CountingAccess()
    remote = RemoteFile(access, str(path))
    app = Host(remote)
    started = time.perf_counter()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TimedView)
        await wait_for(lambda: view.loaded, pilot)
        await pilot.pause()
        figures["last_screen"] = TimedView.last_text_render - started
        figures["bytes_read_open"] = access.bytes_read
        figures["rss_open"] = rss_mb()
        figures["lines_indexed_open"] = remote.line_count

        # Follow while 64 MB are appended, 1 MB at a time.
        view.following = True
        lags: list[float] = []
        peak = rss_mb()
        for number in range(64):
            data = block(1_000_000 + number)
            last_shown = f"block {1_000_000 + number} done"
            with path.open("ab") as out:
                out.write(data)
            appended = time.perf_counter()

            def shown(text: str = last_shown) -> bool:
                return any(text in view.render_line(y).text for y in range(22, 24))

            await wait_for(shown, pilot)
            lags.append(time.perf_counter() - appended)
            peak = max(peak, rss_mb())
        view.following = False
        figures["follow_lag_median"] = statistics.median(lags)
        figures["follow_lag_max"] = max(lags)
        figures["rss_following"] = peak

        if full:
            started = time.perf_counter()
            await pilot.press("g")
            await wait_for(lambda: remote.fully_indexed, pilot, timeout=600)
            figures["full_index"] = time.perf_counter() - started
            figures["lines_total"] = remote.line_count
            figures["rss_full"] = rss_mb()
    figures["rss_peak"] = peak_rss_mb()
    return figures


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also index the whole file")
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    path = synthetic_log(args.size_mb)
    original = path.stat().st_size
    try:
        figures = asyncio.run(run(path, args.full))
    finally:
        # The appended data must not pile up across runs.
        os.truncate(path, original)

    print(f"LogView over a {figures['size_mb']:.0f} MB log (local pread, headless, 80x24)")
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs while measuring)")
    last = figures["last_screen"]
    verdict = "ok" if last <= GOAL_LAST_SCREEN else "OVER GOAL"
    print(f"  last screen shown after    : {last * 1000:8.1f} ms  (goal ≤ 1000 ms) {verdict}")
    print(
        f"  read to get there          : {figures['bytes_read_open'] / (1 << 20):8.1f} MB,"
        f" {figures['lines_indexed_open']:,.0f} lines indexed"
    )
    print(f"  RSS after opening          : {figures['rss_open']:8.1f} MB")
    print(
        f"  following 64 x 1 MB appends: {figures['follow_lag_median'] * 1000:8.1f} ms median,"
        f" {figures['follow_lag_max'] * 1000:.1f} ms max until on screen;"
        f" RSS {figures['rss_following']:.1f} MB"
    )
    if "full_index" in figures:
        print(
            f"  index the whole file (g)   : {figures['full_index']:8.1f} s,"
            f" {figures['lines_total']:,.0f} lines, RSS {figures['rss_full']:.1f} MB"
        )
    print(f"  peak RSS                   : {figures['rss_peak']:8.1f} MB")


if __name__ == "__main__":
    main()
