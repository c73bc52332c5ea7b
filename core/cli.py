"""The ``suan`` command line: one face of the core, with ``--json`` output for scripts.

With no subcommand it opens the TUI. Every subcommand maps a ``SuanError`` to its exit
code (docs/cli.md) and prints the error in words, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from core import humanout
from core.config import load_config
from core.errors import Refused, SuanError
from core.jsonout import dumps, to_jsonable

if TYPE_CHECKING:
    from core.service import Suan

Handler = Callable[["Suan", argparse.Namespace], Awaitable[int]]


def _out(args: argparse.Namespace, data: Any, human: Callable[[], str]) -> None:
    """Print ``data`` as JSON with ``--json``, else the human rendering."""
    if args.json:
        print(dumps(data))
    else:
        text = human()
        if text:
            print(text)


def _ask(question: str, *, stream: TextIO | None = None) -> bool:
    """A yes/no question on the terminal; no terminal means no."""
    stream = stream or sys.stdin
    if not stream.isatty():
        return False
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in {"y", "yes"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``7d``, ``12h``, ``30m``, ``today`` or an ISO date/time → an aware datetime."""
    now = now or datetime.now(UTC)
    text = text.strip()
    if text == "today":
        local = now.astimezone()
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    units = {"d": "days", "h": "hours", "m": "minutes", "w": "weeks"}
    if text[:-1].isdigit() and text[-1:] in units:
        return now - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (use 7d, 12h, today or 2026-11-01T08:00)"
        ) from None
    return parsed if parsed.tzinfo else parsed.astimezone()


# -- identity ---------------------------------------------------------------------------


def read_password(args: argparse.Namespace, username: str) -> str:
    """The password from ``--password-file`` (deleted after reading, as the platform's own
    client does), ``--password-stdin``, or a prompt without echo."""
    if getattr(args, "password_file", None):
        path = Path(args.password_file)
        try:
            password = path.read_text().splitlines()[0] if path.stat().st_size else ""
        except OSError as exc:
            raise SuanError(f"Cannot read the password file {path}: {exc.strerror}") from None
        path.unlink(missing_ok=True)
        return password
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise Refused(
            "No terminal to ask for the password on.",
            hint="Use --password-file FILE or --password-stdin.",
        )
    return getpass.getpass(f"Password for {username}: ")


async def cmd_login(suan: Suan, args: argparse.Namespace) -> int:
    from core.identity import LoginProgress

    password = read_password(args, suan.profile.username)
    warning = suan.identity.store.warning
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    started = time.monotonic()

    def progress(event: LoginProgress) -> None:
        if args.json:
            return
        if event.stage == "approval":
            print(
                f"\rApprove this login in {event.approve_where} … {int(event.elapsed)} s",
                end="",
                file=sys.stderr,
                flush=True,
            )

    info = await suan.identity.login(password, on_progress=progress, valid_time=args.valid_time)
    if not args.json:
        print(file=sys.stderr)
    _out(
        args,
        {"certificate": info, "elapsed": round(time.monotonic() - started, 1)},
        lambda: (
            f"Logged in as {', '.join(info.principals)}; certificate valid until "
            f"{humanout.local_time(info.valid_before.timestamp())} "
            f"({humanout.duration(info.remaining())} left)."
        ),
    )
    return 0


async def cmd_logout(suan: Suan, args: argparse.Namespace) -> int:
    suan.identity.logout()
    _out(args, {"logged_out": True}, lambda: "Logged out: token, key and certificate removed.")
    return 0


async def cmd_cert(suan: Suan, args: argparse.Namespace) -> int:
    if args.export:
        paths = suan.identity.export(Path(args.export))
        _out(args, {"exported": paths}, lambda: "\n".join(str(p) for p in paths))
        return 0
    if args.renew:
        password = None
        if args.password_stdin or args.password_file:
            password = read_password(args, suan.profile.username)
        info = await suan.identity.renew(password, valid_time=args.valid_time)
    else:
        status = suan.identity.status()
        if status is None:
            _out(args, {"certificate": None}, lambda: "No certificate: run `suan login`.")
            return 3
        info = status
    _out(args, {"certificate": info}, lambda: humanout.certificate(info))
    return 0


async def cmd_whoami(suan: Suan, args: argparse.Namespace) -> int:
    user = await suan.whoami()
    _out(args, user, lambda: humanout.user(user))
    return 0


async def cmd_trust_host(suan: Suan, args: argparse.Namespace) -> int:
    key = await suan.host_key(args.node)
    if not args.json:
        print(f"{key.host}:{key.port} presents {key.algorithm} key {key.fingerprint}")
    if not args.yes and not _ask("Trust this host key?"):
        raise Refused("Not trusted: nothing was written.")
    suan.trust_host_key(key)
    _out(args, {"trusted": key}, lambda: f"Added to {suan.profile.known_hosts}.")
    return 0


# -- Slurm ------------------------------------------------------------------------------


async def cmd_partitions(suan: Suan, args: argparse.Namespace) -> int:
    parts = await suan.partitions()
    _out(args, parts, lambda: humanout.partitions(parts))
    return 0


async def cmd_jobs(suan: Suan, args: argparse.Namespace) -> int:
    jobs = await suan.jobs(
        everyone=args.all, user=args.user, partition=args.partition, states=args.state or ()
    )
    _out(args, jobs, lambda: humanout.jobs(jobs, show_user=args.all or bool(args.user)))
    return 0


async def cmd_job(suan: Suan, args: argparse.Namespace) -> int:
    job = await suan.job(args.job_id)
    _out(args, job, lambda: humanout.job_detail(job))
    return 0


async def cmd_history(suan: Suan, args: argparse.Namespace) -> int:
    records = await suan.history(
        start=args.since, end=args.until, states=args.state or (), name=args.name
    )
    _out(args, records, lambda: humanout.history(records))
    return 0


async def cmd_efficiency(suan: Suan, args: argparse.Namespace) -> int:
    eff = await suan.efficiency(args.job_id)
    _out(args, eff, lambda: humanout.efficiency(eff))
    return 0


async def cmd_submit(suan: Suan, args: argparse.Namespace) -> int:
    script_path = Path(args.script)
    try:
        script = await asyncio.to_thread(script_path.read_text)
    except OSError as exc:
        raise SuanError(f"Cannot read {script_path}: {exc.strerror}") from None
    cold = suan.cold_paths(script)
    if cold and not args.json:
        print(
            "warning: this script uses cold storage, which jobs must not read or write:\n"
            + "\n".join(f"  {p}" for p in cold)
            + "\nCopy the data to hot storage first (suan cp SRC DST), then point the "
            "script there.",
            file=sys.stderr,
        )
        if not args.yes and not _ask("Submit anyway?"):
            raise Refused("Not submitted.")
    result = await suan.submit(script, options=args.sbatch_options)
    _out(
        args,
        {"submitted": result, "cold_paths": cold},
        lambda: f"Submitted job {result.job_id} on {result.cluster} (via {result.host}).",
    )
    return 0


async def cmd_cancel(suan: Suan, args: argparse.Namespace) -> int:
    jobs = await suan.jobs_matching(args.job_ids)
    if not jobs:
        raise SuanError("None of these jobs is in the queue: " + ", ".join(args.job_ids))
    if not args.json or not args.yes:
        listing = humanout.jobs(jobs, show_user=True)
        print(f"This cancels {len(jobs)} job(s):\n{listing}", file=sys.stderr)
    if not args.yes and not _ask(f"Cancel these {len(jobs)} job(s)?"):
        raise Refused("Nothing was cancelled.")
    outcomes = await suan.cancel([j.job_id for j in jobs])
    _out(args, outcomes, lambda: humanout.cancel_outcomes(outcomes))
    return 0 if all(o.cancelled for o in outcomes) else 8


async def cmd_log(suan: Suan, args: argparse.Namespace) -> int:
    which: Literal["stdout", "stderr"] = "stderr" if args.stderr else "stdout"
    paths = await suan.log_paths(args.job_id)
    remote = await suan.open_log(args.job_id, which=which)
    if args.json and not args.follow:
        lines = await remote.tail_lines(args.lines)
        _out(args, {"paths": paths, "which": which, "lines": lines}, lambda: "")
        return 0
    from core.safetext import clean_line, collapse_cr

    for line in await remote.tail_lines(args.lines):
        print(clean_line(collapse_cr(line)))
    if args.follow:
        async for chunk in remote.follow():
            text = chunk.decode("utf-8", "replace")
            sys.stdout.write("\n".join(clean_line(part) for part in text.split("\n")))
            sys.stdout.flush()
    return 0


# -- parser -----------------------------------------------------------------------------


def _password_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-file", metavar="FILE", help="read the password from FILE, then delete FILE"
    )
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument(
        "--valid-time",
        type=int,
        default=12 * 3600,
        metavar="SECONDS",
        help="how long the certificate is valid (default 12 h)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every subcommand sets ``handler``."""
    parser = argparse.ArgumentParser(
        prog="suan",
        description="A keyboard-driven terminal app for HPC clusters (SJTU HPC first). "
        "With no command it opens the TUI.",
    )
    parser.add_argument("--config", help="config file (default: $SUAN_CONFIG or platform dir)")
    parser.add_argument("--profile", help="profile (site/cluster) from the config")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--read-only", action="store_true", help="refuse every action that changes something"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        p.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        return p

    p = add("login", cmd_login, "log in: password, then approve in 交我办 or by email")
    _password_options(p)
    add("logout", cmd_logout, "forget the stored token, key and certificate")
    p = add("cert", cmd_cert, "show, renew or export the SSH certificate")
    p.add_argument("--renew", action="store_true", help="request a new certificate")
    _password_options(p)
    p.add_argument("--export", metavar="DIR", help="write id_ed25519 and its certificate to DIR")
    add("whoami", cmd_whoami, "the account as the HPC API knows it")
    p = add("trust-host", cmd_trust_host, "trust an entry node's host key after checking it")
    p.add_argument("node", help="entry node name, e.g. pilogin")
    p.add_argument("--yes", action="store_true", help="do not ask")

    add("partitions", cmd_partitions, "partitions of every node group")
    p = add("jobs", cmd_jobs, "the queue: my jobs, or everyone's with --all")
    p.add_argument("--all", action="store_true", help="everyone's jobs")
    p.add_argument("--user", "-u", help="this user's jobs")
    p.add_argument("--partition", "-p", help="only this partition")
    p.add_argument("--state", "-t", action="append", help="only this state (repeatable)")
    p = add("job", cmd_job, "one job in detail")
    p.add_argument("job_id")
    p = add("history", cmd_history, "finished and running jobs from accounting")
    p.add_argument("--since", type=parse_since, default="7d", help="7d, 12h, today, ISO time")
    p.add_argument("--until", type=parse_since, default=None)
    p.add_argument("--state", "-t", action="append")
    p.add_argument("--name", help="job name contains")
    p = add("efficiency", cmd_efficiency, "CPU, memory and GPU efficiency of a finished job")
    p.add_argument("job_id")
    p = add(
        "submit",
        cmd_submit,
        "submit a batch script; options after SCRIPT go to sbatch (-p picks the node group)",
    )
    p.add_argument("--yes", action="store_true", help="do not ask about cold storage")
    p.add_argument("script", help="local script file")
    p.add_argument("sbatch_options", nargs=argparse.REMAINDER, metavar="SBATCH_OPTION")
    p = add("cancel", cmd_cancel, "cancel jobs after naming exactly which")
    p.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p = add("log", cmd_log, "print (or follow) a job's stdout or stderr")
    p.add_argument("job_id")
    p.add_argument("--err", "--stderr", dest="stderr", action="store_true", help="stderr")
    p.add_argument("--lines", "-n", type=int, default=40)
    p.add_argument("--follow", "-f", action="store_true")

    from core.cli_storage import add_commands

    add_commands(add)
    return parser


async def _run(args: argparse.Namespace, handler: Handler) -> int:
    from core.service import Suan

    config = load_config(Path(args.config) if args.config else None)
    suan = Suan.from_config(config, args.profile, read_only=args.read_only)
    try:
        return await handler(suan, args)
    finally:
        await suan.close()


def report_error(err: SuanError, *, as_json: bool) -> None:
    """An error in words on stderr, or as a JSON object on stdout with ``--json``."""
    if as_json:
        print(dumps({"error": {"kind": err.kind, "message": err.message, "hint": err.hint}}))
    else:
        print(f"suan: {err.message}", file=sys.stderr)
        if err.hint:
            print(err.hint, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    try:
        if handler is None:
            return _open_tui(args)
        return asyncio.run(_run(args, handler))
    except SuanError as err:
        report_error(err, as_json=args.json)
        return err.exit_code
    except KeyboardInterrupt:
        print("\nsuan: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (``| head``) went away: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _open_tui(args: argparse.Namespace) -> int:
    from core.service import Suan
    from tui.app import run

    config = load_config(Path(args.config) if args.config else None)
    run(Suan.from_config(config, args.profile, read_only=args.read_only))
    return 0


__all__ = ["build_parser", "main", "parse_since", "to_jsonable"]


if __name__ == "__main__":
    sys.exit(main())
