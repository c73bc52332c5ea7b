"""JobTable at 50,000 jobs: time to first paint, UI time per refresh, memory.

Runs a headless Textual app holding one JobTable (80×24) and prints:

* first paint: from ``set_jobs`` with 50,000 jobs until the frame showing them is drawn
  (goal ≤ 1 s), and the same from a cold app start;
* refresh: ``set_jobs`` where 5% of the jobs changed (elapsed time ticks), until the frame
  is drawn, median and worst of 10, and the CPU time the UI thread spent (goal ≤ 200 ms);
* peak RSS of the process (goal ≤ 200 MB).

``python -m bench.job_queue [jobs]``
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime

from textual.app import App, ComposeResult
from textual.strip import Strip

from core.slurm.models import Job, JobState
from widgets.job_table import JobTable

GOAL_FIRST_PAINT = 1.0
GOAL_REFRESH = 0.2
GOAL_RSS_MB = 200.0
ROUNDS = 10


def make_jobs(count: int) -> list[Job]:
    """*count* varied jobs, as squeue on a busy cluster would list them."""
    submit = datetime(2024, 5, 1, tzinfo=UTC)
    states = [JobState.RUNNING, JobState.PENDING, JobState.RUNNING, JobState.COMPLETING]
    partitions = ["cpu", "debug", "small", "64c512g", "a100", "arm128c256g"]
    jobs = []
    for index in range(count):
        state = states[index % len(states)]
        pending = state is JobState.PENDING
        jobs.append(
            Job(
                job_id=str(2_000_000 + index),
                array_job_id=None,
                array_task_id=None,
                name=f"训练-{index % 997}" if index % 9 == 0 else f"sim_{index}_relax",
                user=f"user{index % 300:03d}",
                account=f"acct-{index % 40}",
                partition=partitions[index % len(partitions)],
                state=state,
                reason="Priority" if pending else "None",
                elapsed=0 if pending else (index * 37) % 400_000,
                time_limit=7 * 86400,
                num_nodes=1 + index % 4,
                num_cpus=40,
                nodelist="" if pending else f"cas[{index % 900:03d}-{index % 900 + 1:03d}]",
                submit_time=submit,
                start_time=None if pending else submit,
                work_dir=f"/lustre/home/acct-{index % 40}/user{index % 300:03d}",
                cluster="pi",
                group="pi",
            )
        )
    return jobs


class TimedTable(JobTable):
    """A JobTable that notes when it last drew a line."""

    last_render = 0.0

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        TimedTable.last_render = time.perf_counter()
        return strip


class Host(App[None]):
    """A headless app holding the table."""

    CSS = "TimedTable { height: 1fr; }"

    def __init__(self, jobs: list[Job]) -> None:
        super().__init__()
        self._jobs = jobs

    def compose(self) -> ComposeResult:
        yield TimedTable(self._jobs, show_user=True)


def rss_mb() -> float:
    """Peak resident set size of this process, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(count: int) -> dict[str, float]:
    """Measure; return the figures."""
    jobs = make_jobs(count)
    figures: dict[str, float] = {}

    started = time.perf_counter()
    cold = Host(jobs)
    async with cold.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        figures["cold_first_paint"] = TimedTable.last_render - started

    app = Host([])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(TimedTable)
        started = time.perf_counter()
        cpu_started = time.thread_time()
        table.set_jobs(jobs)
        await pilot.pause()
        figures["first_paint"] = TimedTable.last_render - started
        figures["first_paint_cpu"] = time.thread_time() - cpu_started
        assert table.row_count == count

        samples: list[float] = []
        cpu: list[float] = []
        current = jobs
        for round_ in range(ROUNDS):
            # As after a real squeue: every Job is a new object, and 5% of them changed
            # (their elapsed time ticked on).
            current = [
                replace(job, elapsed=(job.elapsed or 0) + (5 if (i + round_) % 20 == 0 else 0))
                for i, job in enumerate(current)
            ]
            started = time.perf_counter()
            cpu_started = time.thread_time()
            table.set_jobs(current)
            await pilot.pause()
            samples.append(TimedTable.last_render - started)
            cpu.append(time.thread_time() - cpu_started)
        figures["refresh_cpu"] = statistics.median(cpu)
        figures["refresh_median"] = statistics.median(samples)
        figures["refresh_max"] = max(samples)

        started = time.perf_counter()
        await pilot.press("G")
        await pilot.pause()
        figures["jump_to_end"] = TimedTable.last_render - started
    figures["rss_mb"] = rss_mb()
    return figures


def main() -> None:
    """Run and print the figures against their goals."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    figures = asyncio.run(run(count))

    def verdict(ok: bool) -> str:
        return "ok" if ok else "OVER GOAL"

    print(f"JobTable with {count:,} jobs (headless, 80x24)")
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs while measuring)")
    first = figures["first_paint"]
    cold = figures["cold_first_paint"]
    print(
        f"  first paint after set_jobs : {first * 1000:8.1f} ms,"
        f" {figures['first_paint_cpu'] * 1000:.1f} ms CPU  (goal ≤ 1000 ms)",
        verdict(first <= GOAL_FIRST_PAINT),
    )
    print(f"  first paint from app start : {cold * 1000:8.1f} ms")
    median = figures["refresh_median"]
    worst = figures["refresh_max"]
    print(
        f"  refresh, 5% rows changed   : {median * 1000:8.1f} ms median, {worst * 1000:.1f} ms max,"
        f" {figures['refresh_cpu'] * 1000:.1f} ms CPU"
        f"  (goal ≤ 200 ms) {verdict(worst <= GOAL_REFRESH)}"
    )
    print(f"  G to the last row          : {figures['jump_to_end'] * 1000:8.1f} ms")
    rss = figures["rss_mb"]
    print(
        f"  peak RSS                   : {rss:8.1f} MB  (goal ≤ 200 MB)",
        verdict(rss <= GOAL_RSS_MB),
    )


if __name__ == "__main__":
    main()
