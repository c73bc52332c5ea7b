"""Log paths (scontrol, sacct + script) and RemoteFile reading by range."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.logs import (
    ERROR_PATTERNS,
    LocalFileAccess,
    LogPaths,
    MemoryFileAccess,
    RemoteFile,
    expand_pattern,
    first_host,
    output_options,
    paths_from_detail,
    paths_from_history,
    resolve_log_paths,
    script_option_args,
    submit_line_args,
)
from core.slurm.models import HistoryRecord, JobDetail, JobState

WORK = "/lustre/home/acct-hpc/hpcuser/run"


def record(**changes: object) -> HistoryRecord:
    values: dict[str, object] = {
        "job_id": "1234",
        "name": "train",
        "user": "hpcuser",
        "account": "acct-hpc",
        "partition": "cpu",
        "state": JobState.COMPLETED,
        "exit_code": "0:0",
        "submit_time": datetime(2024, 1, 1, tzinfo=UTC),
        "start_time": None,
        "end_time": None,
        "elapsed": 10,
        "time_limit": 600,
        "num_nodes": 1,
        "num_cpus": 1,
        "nodelist": "cas[011-012]",
        "work_dir": WORK,
        "submit_line": "sbatch job.slurm",
        "cluster": "pi",
        "group": "pi",
    }
    values.update(changes)
    return HistoryRecord(**values)  # type: ignore[arg-type]


def detail(**changes: object) -> JobDetail:
    values: dict[str, object] = {
        "job_id": "1001",
        "name": "train",
        "user": "hpcuser",
        "account": "acct-hpc",
        "partition": "cpu",
        "state": JobState.RUNNING,
        "reason": "None",
        "stdout": f"{WORK}/out-1001.log",
        "stderr": f"{WORK}/out-1001.log",
        "work_dir": WORK,
        "command": f"{WORK}/job.slurm",
        "dependency": "",
        "submit_time": None,
        "start_time": None,
        "end_time": None,
        "time_limit": 600,
        "run_time": 5,
        "num_nodes": 1,
        "num_cpus": 1,
        "nodelist": "cas011",
        "tres": "cpu=1",
        "exit_code": "0:0",
        "cluster": "pi",
        "group": "pi",
    }
    values.update(changes)
    return JobDetail(**values)  # type: ignore[arg-type]


# --- patterns -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("slurm-%j.out", "slurm-77.out"),
        ("%J.log", "77.log"),
        ("%A_%a.out", "70_7.out"),
        ("%4a-%3A", "0007-070"),
        ("%20j", "0000000077"),
        ("%x-%j.out", "my job 训练-77.out"),
        ("%u/%N/%n.%t.%s", "hpcuser/cas011/0.0.batch"),
        ("100%%-%j", "100%-77"),
        ("%q-%j", "%q-77"),
        ("out\\%j\\.log", "out%j.log"),
        ("%", "%"),
    ],
)
def test_expand_pattern(pattern: str, expected: str) -> None:
    got = expand_pattern(
        pattern,
        job_id="77",
        array_job_id="70",
        array_task_id="7",
        name="my job 训练",
        user="hpcuser",
        node="cas011",
    )
    assert got == expected


def test_expand_pattern_not_an_array() -> None:
    assert expand_pattern("%A-%j", job_id="5") == "5-5"


@pytest.mark.parametrize(
    ("nodelist", "first"),
    [
        ("cas011", "cas011"),
        ("cas[011-013,020]", "cas011"),
        ("gpu[3,5]x", "gpu3x"),
        ("a1,b2", "a1"),
        ("", ""),
        ("None assigned", ""),
        ("(Resources)", ""),
    ],
)
def test_first_host(nodelist: str, first: str) -> None:
    assert first_host(nodelist) == first


@pytest.mark.parametrize(
    ("args", "found"),
    [
        (["-o", "a.out"], {"output": "a.out"}),
        (["-oa.out", "-e", "b.err"], {"output": "a.out", "error": "b.err"}),
        (["--output=a", "--error", "b"], {"output": "a", "error": "b"}),
        (["--out=a", "--err=b"], {"output": "a", "error": "b"}),
        (["-p", "cpu", "-N1", "-J", "x y", "--hold", "job.sh", "-o", "nope"], {"name": "x y"}),
        (["-vo", "v.out"], {"output": "v.out"}),
        (["--exclusive", "-o", "x"], {"output": "x"}),
        (["--mail-type", "END", "-D", "/tmp", "s.sh"], {"chdir": "/tmp"}),
        (["-o"], {"output": ""}),
    ],
)
def test_output_options(args: list[str], found: dict[str, str]) -> None:
    assert output_options(args) == found


def test_script_option_args_stop_at_the_first_command() -> None:
    script = (
        "#!/bin/bash\n"
        "\n"
        "#SBATCH -p cpu\n"
        "#SBATCH --output=%x-%j.out   # with a comment\n"
        "  #SBATCH -e indented-is-ignored\n"
        "#SBATCHX -e not-an-option\n"
        "## SBATCH -e commented-out\n"
        '#SBATCH -J "quoted name"\n'
        "module load gcc\n"
        "#SBATCH -e too-late.err\n"
    )
    assert script_option_args(script) == ["-p", "cpu", "--output=%x-%j.out", "-J", "quoted name"]


def test_submit_line_args() -> None:
    assert submit_line_args("/usr/bin/sbatch -o 'a b.out' job.sh") == ["-o", "a b.out", "job.sh"]
    assert submit_line_args("sbatch --wrap='echo \"hi") == ["--wrap='echo", '"hi']


# --- finished jobs -------------------------------------------------------------------------


def test_history_default_is_slurm_jobid_out_in_workdir() -> None:
    paths = paths_from_history(record())
    assert paths == LogPaths(
        stdout=f"{WORK}/slurm-1234.out", stderr=f"{WORK}/slurm-1234.out", group="pi", cluster="pi"
    )
    assert not paths.separate


def test_history_script_output_relative_to_workdir_with_name() -> None:
    script = "#!/bin/bash\n#SBATCH -o logs/%x-%j.out\n#SBATCH -e /abs/%x.err\necho\n"
    paths = paths_from_history(record(name="训练 作业 v2"), script)
    assert paths.stdout == f"{WORK}/logs/训练 作业 v2-1234.out"
    assert paths.stderr == "/abs/训练 作业 v2.err"
    assert paths.separate


def test_history_submit_line_overrides_script() -> None:
    script = "#!/bin/bash\n#SBATCH --output=script.out\n#SBATCH --error=script.err\n"
    rec = record(submit_line="sbatch --output=cli-%j.out job.slurm -o ignored")
    paths = paths_from_history(rec, script)
    assert paths.stdout == f"{WORK}/cli-1234.out"
    assert paths.stderr == f"{WORK}/script.err"


def test_history_array_task_default_and_padding() -> None:
    rec = record(job_id="1234_7")
    assert paths_from_history(rec).stdout == f"{WORK}/slurm-1234_7.out"
    script = "#SBATCH -o arr-%A-%4a.out\n"
    assert paths_from_history(rec, script).stdout == f"{WORK}/arr-1234-0007.out"
    # %j of a task is its own id: given when known (sacct JobIDRaw).
    got = paths_from_history(rec, "#SBATCH -o t-%j.out\n", raw_job_id="1240")
    assert got.stdout == f"{WORK}/t-1240.out"
    same = paths_from_history(rec, "#SBATCH -o t-%j.out\n", raw_job_id="1234_7")
    assert same.stdout == f"{WORK}/t-1234.out"


def test_history_node_user_and_directory_output() -> None:
    script = "#SBATCH -o /scratch/%u/%N/\n"
    paths = paths_from_history(record(), script)
    assert paths.stdout == "/scratch/hpcuser/cas011/slurm-1234.out"


def test_history_backslash_disables_expansion() -> None:
    paths = paths_from_history(record(), "#SBATCH -o out\\\\%j.log\n")
    assert paths.stdout == f"{WORK}/out%j.log"


def test_history_without_script_or_submit_line() -> None:
    paths = paths_from_history(record(submit_line=""), None)
    assert paths.stdout == f"{WORK}/slurm-1234.out"


# --- running jobs --------------------------------------------------------------------------


def test_detail_paths_are_taken_as_printed() -> None:
    paths = paths_from_detail(detail(stderr=f"{WORK}/err 训练.log"))
    assert paths.stdout == f"{WORK}/out-1001.log"
    assert paths.stderr == f"{WORK}/err 训练.log"
    assert paths.group == "pi"


def test_detail_defaults() -> None:
    paths = paths_from_detail(detail(stdout="", stderr=""))
    assert paths.stdout == paths.stderr == f"{WORK}/slurm-1001.out"
    arr = paths_from_detail(
        detail(stdout="", stderr="", array_job_id="1000", array_task_id="3", job_id="1003")
    )
    assert arr.stdout == f"{WORK}/slurm-1000_3.out"
    relative = paths_from_detail(detail(stdout="rel.out", stderr=""))
    assert relative.stdout == relative.stderr == f"{WORK}/rel.out"


def test_resolve_dispatches() -> None:
    assert resolve_log_paths(detail()).stdout == f"{WORK}/out-1001.log"
    assert resolve_log_paths(record(), "#SBATCH -o x.out\n").stdout == f"{WORK}/x.out"


# --- RemoteFile ----------------------------------------------------------------------------

PATH = "/lustre/home/acct-hpc/hpcuser/slurm-1.out"


def remote(content: bytes, **kwargs: int) -> tuple[RemoteFile, MemoryFileAccess]:
    access = MemoryFileAccess({PATH: content})
    return RemoteFile(access, PATH, **kwargs), access


@pytest.mark.parametrize(
    ("content", "lines"),
    [
        (b"", []),
        (b"one", ["one"]),
        (b"one\n", ["one"]),
        (b"one\ntwo", ["one", "two"]),
        (b"one\n\n\ntwo\n", ["one", "", "", "two"]),
        (b"\n", [""]),
        (b"crlf\r\nlines\r\n", ["crlf\r", "lines\r"]),
    ],
)
async def test_tail_small_files(content: bytes, lines: list[str]) -> None:
    for chunk in (1, 2, 3, 1 << 20):
        rf, _ = remote(content, chunk_size=chunk)
        assert await rf.tail_lines(10) == lines
        assert rf.fully_indexed


async def test_tail_reads_only_the_end_of_a_50mb_file() -> None:
    line = b"step %08d loss=0.12345 \xe8\xae\xad\xe7\xbb\x83\n"
    content = b"".join(line.replace(b"%08d", b"%08d" % i) for i in range(1_800_000))
    assert len(content) > 50_000_000
    rf, access = remote(content)
    tail = await rf.tail_lines(30)
    assert tail[-1] == "step 01799999 loss=0.12345 训练"
    assert tail[0] == "step 01799970 loss=0.12345 训练"
    assert access.bytes_read <= 2 * RemoteFile.CHUNK_SIZE
    assert not rf.fully_indexed
    # Growing the index upwards, a screen at a time, keeps reading by range.
    added = await rf.extend_up(1000)
    assert added >= 1000
    assert (await rf.read_lines(0, 1))[
        0
    ] == f"step {1_800_000 - rf.line_count:08d} loss=0.12345 训练"
    assert access.bytes_read <= 4 * RemoteFile.CHUNK_SIZE


async def test_full_index_matches_splitlines_at_every_chunk_edge() -> None:
    rng = random.Random(7)
    words = ["训练", "é", "plain", "", "\x1b[31mred\x1b[0m", "tab\tbed", "😀", "\r"]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 6))) for _ in range(300)]
    content = "".join(f"{line}\n" for line in lines).encode()
    for chunk in (1, 2, 3, 5, 64, 4096):
        rf, _ = remote(content, chunk_size=chunk)
        await rf.tail_lines(5)
        await rf.index_all()
        assert rf.fully_indexed
        assert rf.line_count == len(lines)
        assert await rf.read_lines(0, rf.line_count) == lines
        for index in (0, 1, 150, 299):
            start, _ = rf.line_span(index)
            assert rf.line_at_offset(start) == index
            assert rf.line_at_offset(start + 1) in (index, index + 1)


async def test_read_spans_by_offset() -> None:
    rf, _ = remote(b"zero\none\ntwo\nthree\n")
    await rf.index_all()
    spans = [rf.line_span(i) for i in range(4)]
    assert await rf.read_spans([spans[3], spans[1]]) == ["three", "one"]
    assert await rf.read_spans(spans[1:3]) == ["one", "two"]
    assert await rf.read_spans([]) == []
    assert await rf.read_lines(2, 10) == ["two", "three"]
    assert await rf.read_lines(5, 1) == []


async def test_invalid_utf8_is_replaced_not_fatal() -> None:
    rf, _ = remote(b"ok\n\xff\xfebad\n\xe8\xae\n")
    assert await rf.tail_lines(3) == ["ok", "\ufffd\ufffdbad", "\ufffd"]


async def test_giant_progress_line_is_capped_at_its_last_state() -> None:
    progress = b"".join(b"\r%5d%% |" % i + b"#" * (i // 10) for i in range(2000))
    content = b"start\n" + progress + "训练完成\n".encode()
    rf, _ = remote(content, chunk_size=4096, max_line_bytes=1024)
    lines = await rf.tail_lines(2)
    assert lines[0] == "start"
    assert lines[1].startswith("…")
    assert lines[1].endswith("训练完成")
    assert len(lines[1].encode()) <= 1024 + 3
    # A giant line without carriage returns shows its head, cut on a character edge.
    big = ("训" * 2000).encode()
    rf2, _ = remote(b"x\n" + big + b"\n", chunk_size=512, max_line_bytes=1000)
    await rf2.index_all()
    (line,) = await rf2.read_lines(1, 1)
    assert line == "训" * 333 + "…"


async def _next(agen: AsyncGenerator[bytes, None]) -> bytes:
    return await asyncio.wait_for(anext(agen), timeout=5)


async def test_follow_appends_and_handles_truncation() -> None:
    rf, access = remote(b"first\npart")
    assert await rf.tail_lines(5) == ["first", "part"]
    agen = rf.follow(interval=0.001)
    try:
        access.append(PATH, "ial 训".encode()[:-1])  # a multi-byte char cut in two
        assert await _next(agen) == b"ial \xe8\xae"
        assert rf.line_count == 2
        access.append(PATH, b"\xad\nthird\n")
        await _next(agen)
        assert rf.line_count == 3
        assert await rf.read_lines(0, 3) == ["first", "partial 训", "third"]
        access.append(PATH, b"fourth")
        await _next(agen)
        assert await rf.read_lines(3, 1) == ["fourth"]

        access.write(PATH, b"new\n")  # truncated and rewritten
        assert await _next(agen) == b"new\n"
        assert rf.truncations == 1
        assert rf.fully_indexed
        assert await rf.read_lines(0, rf.line_count) == ["new"]
    finally:
        await agen.aclose()


async def test_follow_from_an_empty_file() -> None:
    rf, access = remote(b"")
    assert await rf.tail_lines(5) == []
    agen = rf.follow(interval=0.001)
    try:
        access.append(PATH, b"a\nb")
        await _next(agen)
        assert await rf.read_lines(0, 5) == ["a", "b"]
    finally:
        await agen.aclose()


async def test_follow_after_a_partial_tail_then_index_upwards() -> None:
    content = b"".join(b"line %d\n" % i for i in range(1000))
    rf, access = remote(content, chunk_size=64)
    assert await rf.tail_lines(2) == ["line 998", "line 999"]
    agen = rf.follow(interval=0.001)
    try:
        access.append(PATH, b"line 1000\n")
        await _next(agen)
    finally:
        await agen.aclose()
    await rf.index_all()
    assert rf.line_count == 1001
    assert await rf.read_lines(0, 2) == ["line 0", "line 1"]
    assert (await rf.read_lines(rf.line_count - 2, 2)) == ["line 999", "line 1000"]


def _numbered(count: int) -> bytes:
    return b"".join(b"%07d INFO all good \xe8\xae\xad\xe7\xbb\x83\n" % i for i in range(count))


async def test_find_forwards_and_backwards() -> None:
    content = _numbered(20_000)
    rf, _ = remote(content, chunk_size=1000)
    match = await rf.find("0012345")
    assert match is not None
    assert match.text.startswith("0012345 INFO")
    assert content[match.offset : match.end].decode() == match.text
    after = await rf.find("info", match.end + 1)
    assert after is not None
    assert after.text.startswith("0012346")
    before = await rf.find("INFO", match.offset, backwards=True)
    assert before is not None
    assert before.text.startswith("0012344")
    assert await rf.find("Info") is None  # capitals: case-sensitive
    assert await rf.find("训练") is not None
    assert await rf.find("0012345", match.end + 1) is None
    limited = await rf.find("INFO", 0, stop=20)
    assert limited is not None
    assert limited.offset == 0
    assert await rf.find("0019999", 0, stop=1000) is None
    last = await rf.find(re.compile(r"^0019999"), len(content), backwards=True)
    assert last is not None
    assert last.text.startswith("0019999")


async def test_find_in_a_file_without_trailing_newline_and_huge_line() -> None:
    rf, _ = remote(b"a\nb" + b"x" * 5000 + b"needle", chunk_size=1000)
    forwards = await rf.find("needle")
    backwards = await rf.find("needle", 5009, backwards=True)
    assert forwards is not None
    assert backwards is not None
    assert forwards.offset == backwards.offset == 2


async def test_find_in_50mb_by_range() -> None:
    content = _numbered(1_800_000) + b"Traceback (most recent call last):\n" + _numbered(10)
    assert len(content) > 50_000_000
    rf, access = remote(content)
    await rf.tail_lines(20)
    match = await rf.first_error_line()
    assert match is not None
    assert match.text.startswith("Traceback")
    assert access.reads < 200  # chunked, not line by line
    back = await rf.find("Traceback", len(content), backwards=True)
    assert back is not None
    assert back.offset == match.offset
    await rf.index_to(match.offset)
    index = rf.line_at_offset(match.offset)
    assert (await rf.read_lines(index, 1))[0].startswith("Traceback")


@pytest.mark.parametrize(
    "line",
    [
        "ERROR: disk full",
        "RuntimeError: CUDA out of memory",
        "slurmstepd: error: Detected 1 oom-kill event",
        "Traceback (most recent call last):",
        "test_x FAILED",
        "Segmentation fault (core dumped)",
        "*** JOB 12 ON cas011 CANCELLED AT 2024-01-01T00:00:00 DUE TO TIME LIMIT ***",
        "killed: OOM",
    ],
)
async def test_error_patterns_find(line: str) -> None:
    rf, _ = remote(b"fine\nall good\n" + line.encode() + b"\nafter\n")
    match = await rf.first_error_line()
    assert match is not None
    assert match.text == line


async def test_no_error_in_a_clean_log() -> None:
    rf, _ = remote(b"epoch 1 loss 0.3\nerrors=0 handled\nno failures\n")
    assert await rf.first_error_line() is None
    assert len(ERROR_PATTERNS) >= 8


async def test_local_file_access(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(b"a\nb\nc\n")
    rf = RemoteFile(LocalFileAccess(), str(path))
    assert await rf.tail_lines(2) == ["b", "c"]
