"""Job logs: where Slurm wrote them, and reading them by range however large they are.

Two halves:

* Path resolution. A running job's ``scontrol show job`` prints its ``StdOut=``/``StdErr=``
  already expanded; a finished one only has sacct's WorkDir and SubmitLine plus the
  batch script (``sacct --batch-script``), so the ``-o``/``-e`` patterns are found in
  the script's ``#SBATCH`` lines and the command line and expanded here the way
  slurmstepd does (``%j %J %A %a %x %u %N %n %t %s %%``, zero padding, ``\\``).
* :class:`RemoteFile`: a log behind a :class:`FileAccess` (SFTP in the app, memory in
  tests) read by range. Nothing ever reads a whole file: the tail is found by reading
  backwards, a line index (byte offsets in an ``array``) grows lazily upwards from the
  tail and downwards as :meth:`RemoteFile.follow` sees the file grow, and searches scan
  chunk by chunk. Lines are decoded one by one (UTF-8, replacement for bad bytes), and
  line boundaries are newline bytes, so no multi-byte character is ever cut in two.
"""

from __future__ import annotations

import asyncio
import codecs
import operator
import os
import posixpath
import re
import shlex
from array import array
from bisect import bisect_left
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from itertools import accumulate, repeat
from typing import Protocol

from core.slurm.models import HistoryRecord, JobDetail

__all__ = [
    "DEFAULT_ARRAY_OUTPUT",
    "DEFAULT_OUTPUT",
    "ERROR_PATTERNS",
    "ERROR_RE",
    "FileAccess",
    "LocalFileAccess",
    "LogMatch",
    "LogPaths",
    "MemoryFileAccess",
    "RemoteFile",
    "expand_pattern",
    "first_host",
    "output_options",
    "paths_from_detail",
    "paths_from_history",
    "resolve_log_paths",
    "script_option_args",
    "submit_line_args",
]

DEFAULT_OUTPUT = "slurm-%j.out"
"""Where sbatch writes stdout (and stderr) when the job gives no ``-o``."""
DEFAULT_ARRAY_OUTPUT = "slurm-%A_%a.out"
"""The default for array jobs."""

ERROR_PATTERNS: list[str] = [
    r"\bERROR\b",
    r"\bError\b",
    r"\b[A-Za-z]*Error:",
    r"\berror:",
    r"^Traceback \(most recent call last\)",
    r"\bFAILED\b",
    r"Segmentation fault",
    r"\bCANCELLED\b",
    r"\bOOM\b",
    r"oom[-_ ]kill",
    r"[Oo]ut [Oo]f [Mm]emory",
    r"DUE TO TIME LIMIT",
]
"""Regular expressions for the lines worth jumping to first (``e`` in the log viewer)."""

ERROR_RE = re.compile("|".join(f"(?:{p})" for p in ERROR_PATTERNS), re.MULTILINE)

# Lower-case words one of which every ERROR_PATTERNS match contains: a chunk with none of
# them is skipped without running the (slow, many-branched) regex over it.
_ERROR_HINTS = (
    b"error",
    b"traceback",
    b"failed",
    b"segmentation fault",
    b"cancelled",
    b"oom",
    b"out of memory",
    b"due to time limit",
)


# --- where the logs are -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogPaths:
    """A job's stdout and stderr files (the same path when stderr goes to stdout)."""

    stdout: str
    stderr: str
    group: str
    """The site node group the job ran in: its entry nodes see these paths."""
    cluster: str = ""
    node: str | None = None
    """The entry node chosen to read the files, when the caller (the service) picked one."""
    live: bool = False
    """The job is still queued or running: its output may still grow (viewers follow)."""

    @property
    def separate(self) -> bool:
        """True when stderr goes to its own file."""
        return self.stderr != self.stdout


_PATTERN_RE = re.compile(r"%(\d*)([a-zA-Z%])")
_NUMERIC_FIELDS = frozenset("AajJnst")
_MAX_PAD = 10  # slurmstepd caps the zero-padding width


def expand_pattern(
    pattern: str,
    *,
    job_id: str,
    array_job_id: str | None = None,
    array_task_id: str | None = None,
    name: str = "",
    user: str = "",
    node: str = "",
    step: str = "batch",
) -> str:
    """Expand a Slurm file-name pattern the way slurmstepd does for a batch job.

    ``%j`` job id, ``%J`` job id (``.step`` for non-batch steps), ``%A`` array master id,
    ``%a`` array task id, ``%x`` job name, ``%u`` user, ``%N`` first node, ``%n`` node
    index and ``%t`` task rank (0 for the batch script), ``%s`` step, ``%%`` a percent
    sign. A number after ``%`` zero-pads numeric fields (``%4a`` → ``0007``). A pattern
    containing a backslash is not expanded at all; the backslashes are removed. Unknown
    fields stay as written.
    """
    if "\\" in pattern:
        return pattern.replace("\\", "")
    array_job = array_job_id or job_id
    task = array_task_id if array_task_id is not None else "4294967294"
    values = {
        "j": job_id,
        "J": job_id if step == "batch" else f"{job_id}.{step}",
        "A": array_job,
        "a": task,
        "x": name,
        "u": user,
        "N": node,
        "n": "0",
        "t": "0",
        "s": step,
    }

    def replace(match: re.Match[str]) -> str:
        width_text, field = match.groups()
        if field == "%":
            return "%" if not width_text else match.group()
        if field not in values:
            return match.group()
        value = values[field]
        if width_text and field in _NUMERIC_FIELDS and value.isdigit():
            value = value.zfill(min(int(width_text), _MAX_PAD))
        return value

    return _PATTERN_RE.sub(replace, pattern)


_HOSTLIST_RE = re.compile(r"([^,\[]*)(?:\[([^\]]*)\])?([^,]*)")


def first_host(nodelist: str) -> str:
    """The first host of a Slurm hostlist: ``node[003-005,9]`` → ``node003``."""
    text = nodelist.strip()
    if not text or text.startswith(("(", "None")):
        return ""
    match = _HOSTLIST_RE.match(text)
    if match is None:  # pragma: no cover - the regex matches any string
        return text
    prefix, ranges, suffix = match.groups()
    if ranges is None:
        return prefix + suffix
    first = ranges.split(",", 1)[0].split("-", 1)[0]
    return prefix + first + suffix


# sbatch's short options that take a value; the others are flags.
_SHORT_WITH_VALUE = frozenset("AaBbcCDdeFGiJLMmNnopqStwx")
# Long options that never take a separate value (some take an optional `=value`).
_LONG_FLAGS = frozenset(
    {
        "contiguous",
        "exclusive",
        "get-user-env",
        "help",
        "hold",
        "ignore-pbs",
        "nice",
        "no-kill",
        "no-requeue",
        "oversubscribe",
        "overcommit",
        "parsable",
        "propagate",
        "quiet",
        "reboot",
        "requeue",
        "spread-job",
        "test-only",
        "usage",
        "use-min-nodes",
        "verbose",
        "version",
        "wait",
    }
)
_LONG_KEYS = {"output": "output", "error": "error", "job-name": "name", "chdir": "chdir"}
_SHORT_KEYS = {"o": "output", "e": "error", "J": "name", "D": "chdir"}


def _long_key(name: str) -> str | None:
    # getopt_long accepts unambiguous prefixes: --out=x is --output=x.
    for full, key in _LONG_KEYS.items():
        if full == name or (len(name) >= 2 and full.startswith(name) and name not in ("ch",)):
            return key
    return None


def output_options(args: Sequence[str]) -> dict[str, str]:
    """The log-related options in sbatch arguments (up to the script name).

    Returns the last value seen of each of ``output``, ``error``, ``name`` and
    ``chdir``.
    """
    found: dict[str, str] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            key = _long_key(name)
            if not eq and name not in _LONG_FLAGS:
                if index < len(args):
                    value = args[index]
                index += 1
            if key is not None:
                found[key] = value
            continue
        if arg.startswith("-") and len(arg) > 1:
            for position, letter in enumerate(arg[1:], start=1):
                if letter not in _SHORT_WITH_VALUE:
                    continue
                value = arg[position + 1 :]
                if not value:
                    value = args[index] if index < len(args) else ""
                    index += 1
                if letter in _SHORT_KEYS:
                    found[_SHORT_KEYS[letter]] = value
                break
            continue
        break  # the script: what follows are its own arguments
    return found


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=True)
    except ValueError:
        return text.split()


def script_option_args(script: str) -> list[str]:
    """The arguments of a batch script's ``#SBATCH`` lines, in order.

    Like sbatch, reading stops at the first line that is neither blank nor a comment.
    """
    args: list[str] = []
    for line in script.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        if line.startswith("#SBATCH") and line[7:8] in (" ", "\t"):
            args.extend(_split(line[8:]))
    return args


def submit_line_args(submit_line: str) -> list[str]:
    """sacct's SubmitLine as arguments, without the ``sbatch`` command itself."""
    args = _split(submit_line)
    if args and posixpath.basename(args[0]) == "sbatch":
        args = args[1:]
    return args


def _absolute(path: str, work_dir: str) -> str:
    if path.endswith("/"):
        path += "%DEFAULT%"
    if posixpath.isabs(path) or not work_dir:
        return path
    return posixpath.join(work_dir, path)


def _split_array_id(job_id: str) -> tuple[str, str | None, str | None]:
    match = re.fullmatch(r"(\d+)_(\d+)", job_id)
    if match:
        return match.group(1), match.group(1), match.group(2)
    return job_id, None, None


def paths_from_detail(detail: JobDetail) -> LogPaths:
    """Log paths of a job scontrol still knows (``StdOut``/``StdErr`` come expanded)."""
    array_job = detail.array_job_id
    task = detail.array_task_id
    work_dir = detail.work_dir
    stdout = detail.stdout
    if not stdout:
        default = DEFAULT_ARRAY_OUTPUT if array_job and task else DEFAULT_OUTPUT
        stdout = expand_pattern(
            default,
            job_id=detail.job_id,
            array_job_id=array_job,
            array_task_id=task,
            name=detail.name,
            user=detail.user,
        )
    stdout = _absolute(stdout, work_dir)
    stderr = _absolute(detail.stderr, work_dir) if detail.stderr else stdout
    return LogPaths(
        stdout=stdout,
        stderr=stderr,
        group=detail.group,
        cluster=detail.cluster,
        live=detail.state.is_active,
    )


def paths_from_history(
    record: HistoryRecord, script: str | None = None, *, raw_job_id: str | None = None
) -> LogPaths:
    """Log paths of a finished job from sacct's record and (if kept) its batch script.

    Options on the command line (SubmitLine) override the script's ``#SBATCH`` lines, as
    they did at submission. Array tasks appear in sacct as ``1234_5``; pass *raw_job_id*
    (sacct's JobIDRaw) so ``%j`` expands to the task's own id, else the array's id is
    used.
    """
    options = output_options(script_option_args(script)) if script else {}
    options.update(output_options(submit_line_args(record.submit_line)))
    job_id, array_job, task = _split_array_id(record.job_id)
    if raw_job_id and raw_job_id.isdigit():  # "1234_5" is not a raw id: ignored
        job_id = raw_job_id

    def expand(pattern: str) -> str:
        return expand_pattern(
            pattern,
            job_id=job_id,
            array_job_id=array_job,
            array_task_id=task,
            name=record.name,
            user=record.user,
            node=first_host(record.nodelist),
        )

    default = DEFAULT_ARRAY_OUTPUT if task is not None else DEFAULT_OUTPUT
    stdout = _absolute(options.get("output") or default, record.work_dir)
    stdout = expand(stdout.replace("%DEFAULT%", default))
    if options.get("error"):
        stderr = _absolute(options["error"], record.work_dir)
        stderr = expand(stderr.replace("%DEFAULT%", default))
    else:
        stderr = stdout
    return LogPaths(stdout=stdout, stderr=stderr, group=record.group, cluster=record.cluster)


def resolve_log_paths(job: JobDetail | HistoryRecord, script: str | None = None) -> LogPaths:
    """Log paths of a running (scontrol) or finished (sacct + script) job."""
    if isinstance(job, JobDetail):
        return paths_from_detail(job)
    return paths_from_history(job, script)


# --- reading by range ---------------------------------------------------------------------


class FileAccess(Protocol):
    """Random access to remote files (SFTP in the app, memory or local files in tests)."""

    async def size(self, path: str) -> int:
        """The file's current size in bytes."""
        ...

    async def read(self, path: str, offset: int, length: int) -> bytes:
        """Up to *length* bytes at *offset*; fewer (or none) at the end of the file."""
        ...


class MemoryFileAccess:
    """A FileAccess over in-memory files: the fake for tests and demos."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files: dict[str, bytearray] = {k: bytearray(v) for k, v in (files or {}).items()}
        self.reads = 0
        """How many reads were made (tests check that nothing reads a whole file)."""
        self.bytes_read = 0

    def write(self, path: str, data: bytes) -> None:
        """Replace a file's content."""
        self.files[path] = bytearray(data)

    def append(self, path: str, data: bytes) -> None:
        """Append to a file (created if missing)."""
        self.files.setdefault(path, bytearray()).extend(data)

    async def size(self, path: str) -> int:
        """The file's size; FileNotFoundError if there is none."""
        return len(self.files[path])

    async def read(self, path: str, offset: int, length: int) -> bytes:
        """Up to *length* bytes at *offset*."""
        data = bytes(self.files[path][offset : offset + length])
        self.reads += 1
        self.bytes_read += len(data)
        return data


class LocalFileAccess:
    """A FileAccess over local files (``pread``), for local logs and benchmarks."""

    async def size(self, path: str) -> int:
        """The file's size."""
        return os.stat(path).st_size

    async def read(self, path: str, offset: int, length: int) -> bytes:
        """Up to *length* bytes at *offset*."""
        # Local reads of a chunk take microseconds; a thread hop would cost more.
        fd = os.open(path, os.O_RDONLY)
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)


@dataclass(frozen=True, slots=True)
class LogMatch:
    """A line found by a search: where it starts and ends (bytes) and its text."""

    offset: int
    end: int
    """Where the line ends, before its newline."""
    text: str


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _compile(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    if isinstance(pattern, re.Pattern):
        return pattern
    # Smart case, as in less and vim: lower-case text matches either case.
    flags = re.IGNORECASE if pattern == pattern.lower() else 0
    return re.compile(re.escape(pattern), flags)


class RemoteFile:
    """A (possibly huge, possibly growing) log file read by range through a FileAccess.

    The line index covers a window ``[top, end)`` of the file that starts at the tail
    (:meth:`tail_lines`) and grows upwards on demand (:meth:`extend_up`,
    :meth:`index_to`) and downwards while following (:meth:`follow`). Line numbers are
    relative to ``top``: they shift when the window grows upwards, byte offsets do not,
    so callers key caches by :meth:`line_start`.
    """

    CHUNK_SIZE = 1 << 20
    MAX_LINE_BYTES = 256 * 1024

    def __init__(
        self,
        access: FileAccess,
        path: str,
        *,
        chunk_size: int = CHUNK_SIZE,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        self.access = access
        self.path = path
        self.chunk_size = chunk_size
        self.max_line_bytes = max_line_bytes
        self.truncations = 0
        """How many times :meth:`follow` saw the file shrink and started over."""
        self._reset(0)
        self._seeded = False
        self._lock: asyncio.Lock | None = None

    def _reset(self, end: int) -> None:
        self._end = end
        self._top = end
        self._scan = end
        # Line starts in [top, end): _rev holds those found scanning upwards (descending),
        # _fwd those found while following (ascending). array('q') keeps ten million
        # offsets in 80 MB where a list would take four times that.
        self._rev: array[int] = array("q")
        self._fwd: array[int] = array("q")
        self._last_byte = b""

    @property
    def _guard(self) -> asyncio.Lock:
        # Created on first use, inside the running loop.
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    # --- raw access ---------------------------------------------------------------

    async def size(self) -> int:
        """The file's current size."""
        return await self.access.size(self.path)

    async def read_range(self, offset: int, length: int) -> bytes:
        """*length* bytes at *offset* (fewer at the end of the file)."""
        parts: list[bytes] = []
        while length > 0:
            data = await self.access.read(self.path, offset, length)
            if not data:
                break
            parts.append(data)
            offset += len(data)
            length -= len(data)
        return b"".join(parts)

    # --- the index ----------------------------------------------------------------

    @property
    def line_count(self) -> int:
        """Lines known (in the indexed window)."""
        return len(self._rev) + len(self._fwd)

    @property
    def top(self) -> int:
        """Byte offset of the first indexed line."""
        return self._top

    @property
    def end(self) -> int:
        """Byte offset where the indexed window ends (the file size when last seen)."""
        return self._end

    @property
    def fully_indexed(self) -> bool:
        """True once the index reaches the start of the file."""
        return self._seeded and self._top == 0

    @property
    def seeded(self) -> bool:
        """True once the tail has been read."""
        return self._seeded

    def line_start(self, index: int) -> int:
        """Byte offset where indexed line *index* starts."""
        back = len(self._rev)
        if index < back:
            return self._rev[back - 1 - index]
        return self._fwd[index - back]

    def line_span(self, index: int) -> tuple[int, int]:
        """``(start, end)`` of line *index*: end is where the next line starts."""
        start = self.line_start(index)
        end = self.line_start(index + 1) if index + 1 < self.line_count else self._end
        return start, end

    def line_at_offset(self, offset: int) -> int:
        """Index of the indexed line containing byte *offset* (clamped to the window)."""
        count = self.line_count
        if count == 0:
            return 0
        lo, hi = 0, count - 1
        while lo < hi:  # the last line whose start is <= offset
            mid = (lo + hi + 1) // 2
            if self.line_start(mid) <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo

    async def _seed(self) -> None:
        if self._seeded:
            return
        size = await self.size()
        self._reset(size)
        if size:
            self._last_byte = await self.read_range(size - 1, 1)
        self._seeded = True

    async def extend_up(self, min_lines: int) -> int:
        """Index at least *min_lines* more lines above the window (fewer at the top).

        Returns how many lines were added.
        """
        async with self._guard:
            await self._seed()
            before = len(self._rev)
            while len(self._rev) - before < min_lines and self._scan > 0:
                await self._scan_block()
            return len(self._rev) - before

    async def index_to(self, offset: int) -> None:
        """Grow the index upwards until it covers byte *offset*."""
        async with self._guard:
            await self._seed()
            while self._top > offset and self._scan > 0:
                await self._scan_block()

    async def index_all(self) -> None:
        """Index the whole file (chunk by chunk)."""
        await self.index_to(0)

    async def _scan_block(self) -> None:
        low = max(0, self._scan - self.chunk_size)
        block = await self.read_range(low, self._scan - low)
        end = self._end
        top = self._top
        # Line starts in the block, found with C-level iterators: a Python loop per
        # newline would take seconds on a gigabyte of short lines.
        parts = block.split(b"\n")
        if len(parts) > 1:
            lengths = map(operator.add, map(len, parts[:-1]), repeat(1))
            starts = list(map(operator.add, accumulate(lengths), repeat(low)))
            del parts
            keep = bisect_left(starts, min(top, end))
            if keep:
                self._rev.extend(reversed(starts[:keep]))
                top = starts[0]
        if low == 0 and top > 0 and end > 0:
            self._rev.append(0)
            top = 0
        self._top = top
        self._scan = low

    def _append(self, data: bytes) -> None:
        if not data:
            return
        old_end = self._end
        new_end = old_end + len(data)
        fwd = self._fwd
        # The appended bytes start a line when the file was empty or ended in a newline;
        # otherwise they continue the last line, whose start is indexed already or will
        # be found by scanning upwards.
        if old_end == 0 or self._last_byte == b"\n":
            fwd.append(old_end)
        parts = data.split(b"\n")
        if len(parts) > 1:
            lengths = map(operator.add, map(len, parts[:-1]), repeat(1))
            fwd.extend(map(operator.add, accumulate(lengths), repeat(old_end)))
            if fwd[-1] == new_end:
                fwd.pop()  # the data ended with a newline: the next line has not begun
        self._end = new_end
        self._last_byte = data[-1:]

    # --- reading lines ------------------------------------------------------------

    async def read_lines(self, first: int, count: int) -> list[str]:
        """Indexed lines ``first .. first+count-1``, decoded (newline removed)."""
        last = min(self.line_count, first + count) - 1
        if first < 0 or last < first:
            return []
        return await self.read_spans([self.line_span(i) for i in range(first, last + 1)])

    async def read_spans(self, spans: Sequence[tuple[int, int]]) -> list[str]:
        """Decode lines given by byte spans (from :meth:`line_span`).

        Byte offsets stay valid while the index grows, line numbers do not: callers that
        await between looking lines up and reading them use this. Adjacent spans are
        read in one request; giant lines are capped at ``max_line_bytes``.
        """
        if not spans:
            return []
        start = spans[0][0]
        stop = spans[-1][1]
        contiguous = all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))
        limit = max(self.chunk_size, self.max_line_bytes) * 4
        if not contiguous or stop - start > limit:
            return [await self._read_span(span) for span in spans]
        data = await self.read_range(start, stop - start)
        lines: list[str] = []
        for line_start, line_end in spans:
            raw = data[line_start - start : line_end - start]
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            lines.append(self._decode_line(raw))
        return lines

    def _decode_line(self, raw: bytes) -> str:
        limit = self.max_line_bytes
        if len(raw) <= limit:
            return _decode(raw)
        # A giant line is nearly always a carriage-return progress bar whose final state
        # is at its end; otherwise its head is what a reader wants.
        tail = raw[-limit:]
        if b"\r" in tail:
            return _cap_line(tail, limit, from_end=True)
        return _cap_line(raw[:limit], limit, from_end=False)

    async def _read_span(self, span: tuple[int, int]) -> str:
        start, end = span
        limit = self.max_line_bytes
        if end - start <= limit:
            raw = await self.read_range(start, end - start)
            return _decode(raw[:-1] if raw.endswith(b"\n") else raw)
        tail = await self.read_range(end - limit - 1, limit + 1)
        # One byte more than the cap, so that dropping the newline leaves exactly the cap.
        tail = tail[:-1] if tail.endswith(b"\n") else tail[1:]
        if b"\r" in tail:
            return _cap_line(tail, limit, from_end=True)
        head = await self.read_range(start, limit)
        return _cap_line(head, limit, from_end=False)

    async def tail_lines(self, n: int) -> list[str]:
        """The last *n* lines of the file, indexing just enough of it to find them."""
        await self._seed()
        if self.line_count < n:
            await self.extend_up(n - self.line_count)
        count = min(n, self.line_count)
        return await self.read_lines(self.line_count - count, count)

    # --- following ----------------------------------------------------------------

    async def follow(
        self, interval: float = 1.0, *, max_read: int = 4 << 20
    ) -> AsyncGenerator[bytes, None]:
        """Poll the file's size; yield the bytes appended since the index's end.

        The index grows with each yield. When the file shrinks (truncated, or rewritten
        shorter) the index starts over from the beginning and :attr:`truncations` goes
        up, so a viewer knows to forget what it showed.
        """
        await self._seed()
        while True:
            size = await self.size()
            if size < self._end:
                self._reset(0)
                self.truncations += 1
            if size > self._end:
                data = await self.read_range(self._end, min(size - self._end, max_read))
                if data:
                    self._append(data)
                    yield data
                    continue
            # Polling is the protocol here (SFTP has no change notification).
            await asyncio.sleep(interval)

    # --- searching ----------------------------------------------------------------

    async def find(
        self,
        pattern: str | re.Pattern[str],
        start: int = 0,
        backwards: bool = False,
        *,
        stop: int | None = None,
    ) -> LogMatch | None:
        """The first line at or after byte *start* (or the last before it) that matches.

        Scans by range, chunk by chunk, between *start* and *stop* (default: the end of
        the file, or its beginning when searching backwards). *start* should be a line
        start. A string pattern is literal, case-insensitive unless it has capitals.
        """
        regex = _compile(pattern)
        hints = _hints(pattern)
        if backwards:
            return await self._find_backwards(regex, hints, start, stop or 0)
        limit = stop if stop is not None else max(await self.size(), self._end)
        return await self._find_forwards(regex, hints, start, limit)

    async def _find_forwards(
        self, regex: re.Pattern[str], hints: _Hints, start: int, limit: int
    ) -> LogMatch | None:
        position = start
        carry = b""
        carry_start = start
        while position < limit:
            block = await self.read_range(position, min(self.chunk_size, limit - position))
            if not block:
                break
            data = carry + block
            base = carry_start
            position += len(block)
            if position < limit:
                cut = data.rfind(b"\n")
                if cut < 0 and len(data) < 16 * self.chunk_size:
                    carry = data
                    continue
                if cut < 0:
                    cut = len(data) - 1
                complete, carry = data[: cut + 1], data[cut + 1 :]
                carry_start = base + cut + 1
            else:
                complete, carry = data, b""
            found = _search_lines(regex, hints, complete, base, limit, last=False)
            if found is not None:
                return found
        if carry:
            return _search_lines(regex, hints, carry, carry_start, limit, last=False)
        return None

    async def _find_backwards(
        self, regex: re.Pattern[str], hints: _Hints, start: int, limit: int
    ) -> LogMatch | None:
        position = start
        carry = b""
        while position > limit:
            low = max(limit, position - self.chunk_size)
            data = await self.read_range(low, position - low) + carry
            position = low
            if low > limit:
                cut = data.find(b"\n")
                if cut < 0 and len(data) < 16 * self.chunk_size:
                    carry = data
                    continue
                complete, carry = data[cut + 1 :], data[: cut + 1]
                base = low + cut + 1
            else:
                complete, carry, base = data, b"", low
            found = _search_lines(regex, hints, complete, base, base + len(complete), last=True)
            if found is not None:
                return found
        return None

    async def first_error_line(self) -> LogMatch | None:
        """The first line matching :data:`ERROR_PATTERNS`, scanning from the top."""
        return await self.find(ERROR_RE, 0)


_Hints = tuple[tuple[bytes, ...], bool] | None
"""Byte strings one of which a matching chunk must contain, and whether to lower-case the
chunk before looking; None when the pattern gives no such hint."""


def _hints(pattern: str | re.Pattern[str]) -> _Hints:
    if pattern is ERROR_RE:
        return _ERROR_HINTS, True
    if isinstance(pattern, str) and pattern:
        if pattern != pattern.lower():
            return (pattern.encode(),), False
        if pattern.isascii():
            return (pattern.encode(),), True
    return None


def _search_lines(
    regex: re.Pattern[str], hints: _Hints, data: bytes, base: int, upper: int, *, last: bool
) -> LogMatch | None:
    if hints is not None:
        words, lower = hints
        haystack = data.lower() if lower else data
        if not any(word in haystack for word in words):
            return None
    # One search over the decoded block skips the per-line loop for most blocks; it
    # needs MULTILINE so that ^ and $ match at every line of the block.
    block_regex = regex
    if not regex.flags & re.MULTILINE:
        block_regex = re.compile(regex.pattern, regex.flags | re.MULTILINE)
    if block_regex.search(_decode(data)) is None:
        return None
    pieces = data.split(b"\n")
    offsets: list[int] = []
    offset = base
    for piece in pieces:
        offsets.append(offset)
        offset += len(piece) + 1
    order = range(len(pieces) - 1, -1, -1) if last else range(len(pieces))
    for index in order:
        piece = pieces[index]
        start = offsets[index]
        if start >= upper or (not piece and index == len(pieces) - 1):
            continue
        text = _decode(piece)
        if regex.search(text):
            return LogMatch(offset=start, end=start + len(piece), text=text)
    return None


def _cap_line(raw: bytes, limit: int, *, from_end: bool = True) -> str:
    """Decode at most *limit* bytes of a giant line without cutting a character."""
    if from_end:
        piece = raw[-limit:]
        # Skip UTF-8 continuation bytes so decoding starts on a character boundary.
        skip = 0
        while skip < min(4, len(piece)) and piece[skip] & 0xC0 == 0x80:
            skip += 1
        return "…" + _decode(piece[skip:])
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    return decoder.decode(raw[:limit], final=False) + "…"
