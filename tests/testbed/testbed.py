"""Bring the suan testbed (a real mini-HPC on this machine) up or down.

``testbed.py up [--seed]`` installs what is missing and starts, in order: storage mounts,
munge, MariaDB, slurmdbd, the accounting records, the ``pi`` and ``sy`` controllers with
their fake nodes, five entry-node sshd (each in its own mount namespace) and the HPC API
stand-in; ``--seed`` then submits a realistic job mix once (see ``seed.py``). Everything
is idempotent: on a live testbed a re-run checks, changes nothing and takes well under a
second. ``$TESTBED/testbed.env`` is written last, only when every piece answered.

``testbed.py down`` cancels the jobs, stops only the daemons ``up`` recorded, unmounts
only what it mounted, and purges ``$TESTBED`` so the next ``up`` starts fresh.

``testbed.py status`` lists the daemons with their memory use.

Standard library only; run as root by Debian's ``/usr/bin/python3``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import grp
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypedDict

import layout as L
from daemons import (
    Daemon,
    Record,
    Registry,
    TestbedError,
    http_ok,
    process_exe,
    require,
    rss_kib,
    run,
    tcp_open,
    unix_open,
    wait_until,
)

MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
SLURM_UID_NAME = "slurm"


def log(message: str) -> None:
    """Progress on stderr, with the time since start."""
    print(f"[testbed {time.monotonic() - _T0:5.1f}s] {message}", file=sys.stderr, flush=True)


_T0 = time.monotonic()


# ---------------------------------------------------------------------------- files


def write_file(path: Path, text: str, *, mode: int = 0o644, owner: str | None = None) -> bool:
    """Write ``text`` unless the file already holds it; fix mode and owner. True if changed."""
    data = text.encode()
    changed = False
    try:
        current = path.read_bytes()
    except OSError:
        current = None
    if current != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        if owner:
            shutil.chown(tmp, owner, owner)
        tmp.replace(path)
        changed = True
    else:
        fix_perms(path, mode, owner)
    return changed


def fix_perms(
    path: Path, mode: int, owner: str | int | None = None, group: int | None = None
) -> None:
    """Set mode and owner only where they differ (so a re-run touches nothing)."""
    info = path.stat()
    if stat.S_IMODE(info.st_mode) != mode:
        os.chmod(path, mode)
    if owner is not None:
        uid = owner if isinstance(owner, int) else pwd.getpwnam(owner).pw_uid
        gid = (
            group
            if group is not None
            else (pwd.getpwuid(uid).pw_gid if isinstance(owner, str) else info.st_gid)
        )
        if (info.st_uid, info.st_gid) != (uid, gid):
            os.chown(path, uid, gid)


def ensure_dir(
    path: Path, mode: int = 0o755, owner: str | int | None = None, group: int | None = None
) -> None:
    """A directory with exactly this mode and owner."""
    path.mkdir(parents=True, exist_ok=True)
    fix_perms(path, mode, owner, group)


# ---------------------------------------------------------------------------- packages, users


def ensure_packages() -> None:
    """Install the Debian packages that are missing (apt-get update only then)."""
    proc = run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}|${Package}\n", *L.PACKAGES], check=False
    )
    installed = {line.split("|")[1] for line in proc.stdout.splitlines() if line.startswith("ii")}
    missing = [pkg for pkg in L.PACKAGES if pkg not in installed]
    if not missing:
        return
    log(f"installing {' '.join(missing)}")
    policy = Path("/usr/sbin/policy-rc.d")
    # Package scripts must not start services: we start our own daemons, our own way.
    created = not policy.exists()
    if created:
        write_file(policy, "#!/bin/sh\nexit 101\n", mode=0o755)
    try:
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update", "-q"], env=env, timeout=300)
        run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
            env=env,
            timeout=600,
        )
    finally:
        if created:
            policy.unlink(missing_ok=True)


def ensure_users() -> None:
    """Group acct-hpc (5000) and users hpcuser (5001), otheruser (5002), shell bash."""
    try:
        group = grp.getgrnam(L.ACCOUNT)
        if group.gr_gid != L.ACCOUNT_GID:
            raise TestbedError(
                f"group {L.ACCOUNT} exists with gid {group.gr_gid}, not {L.ACCOUNT_GID}"
            )
    except KeyError:
        run(["groupadd", "-g", str(L.ACCOUNT_GID), L.ACCOUNT])
    for user in L.USERS:
        try:
            entry = pwd.getpwnam(user.name)
        except KeyError:
            run(
                [
                    "useradd", "-M", "-N", "-u", str(user.uid), "-g", str(L.ACCOUNT_GID),
                    "-d", str(L.home_of("lustre", user.name)), "-s", "/bin/bash",
                    "-p", "*", user.name,
                ]
            )  # fmt: skip
            continue
        if entry.pw_uid != user.uid:
            raise TestbedError(f"user {user.name} exists with uid {entry.pw_uid}, not {user.uid}")
    # With UsePAM no, sshd refuses accounts whose password field starts with "!" (locked).
    shadow = Path("/etc/shadow").read_text()
    for line in shadow.splitlines():
        name, _, rest = line.partition(":")
        if name in {u.name for u in L.USERS} and rest.startswith("!"):
            run(["usermod", "-p", "*", name])


def load_secrets(lay: L.Layout) -> dict[str, str]:
    """Passwords generated once per testbed life and kept (0600)."""
    try:
        data: dict[str, str] = json.loads(lay.secrets_file.read_text())
    except (OSError, ValueError):
        data = {}
    wanted = [user.name for user in L.USERS] + ["mariadb_slurm"]
    if any(key not in data for key in wanted):
        for key in wanted:
            data.setdefault(key, secrets.token_urlsafe(15))
        write_file(lay.secrets_file, json.dumps(data, indent=2) + "\n", mode=0o600)
    return data


# ---------------------------------------------------------------------------- storage


def _unescape_mount(text: str) -> str:
    return (
        text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
        .replace("\\134", "\\")
    )  # fmt: skip


def mounts() -> dict[str, str]:
    """Mount point → filesystem type, from /proc/self/mountinfo (last mount wins)."""
    table: dict[str, str] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        table[_unescape_mount(fields[4])] = right.split()[0]
    return table


def ensure_storage(lay: L.Layout, reg: Registry) -> str:
    """Pools with homes, bind mounts at /lustre … /vault, /union; returns how /union is made."""
    ensure_dir(lay.storage, 0o755, 0, 0)
    for pool in L.POOLS:
        top = lay.storage / pool
        ensure_dir(top, 0o755, 0, 0)
        ensure_dir(top / "home", 0o755, 0, 0)
        ensure_dir(top / "home" / L.ACCOUNT, 0o755, 0, L.ACCOUNT_GID)
        for user in L.USERS:
            mode = 0o700 if pool in L.HOT_POOLS else 0o750
            ensure_dir(top / "home" / L.ACCOUNT / user.name, mode, user.uid, L.ACCOUNT_GID)
    table = mounts()
    record = _load_mounts(lay)
    for pool in L.POOLS:
        target = Path("/") / pool
        if str(target) in table:
            continue
        ensure_dir(target, 0o755)
        run(["mount", "--bind", str(lay.storage / pool), str(target)])
        record["binds"] = sorted({*record["binds"], str(target)})
        _save_mounts(lay, record)
    union = str(L.UNION_MOUNT)
    running = reg.running("mergerfs")
    if union in table and (record["union"] == "bind" or running is not None):
        return record["union"] or "mergerfs"
    if union in table:
        # A FUSE mount whose mergerfs died with the last session ("Transport endpoint is
        # not connected"): detach it so it can be mounted again.
        log("/union is mounted but its mergerfs is gone: unmounting the stale mount")
        run(["umount", "-l", union])
    ensure_dir(L.UNION_MOUNT, 0o755)
    daemon = Daemon(
        name="mergerfs",
        argv=(
            "/usr/bin/mergerfs", "-f", "-o",
            "allow_other,category.create=mfs,func.getattr=newest,fsname=union,cache.files=off",
            "/archive:/vault", union,
        ),
        exe="/usr/bin/mergerfs",
        log=lay.logs / "mergerfs.log",
    )  # fmt: skip
    try:
        reg.ensure(daemon)
        require(
            lambda: mounts().get(union) == "fuse.mergerfs", 5.0, "mergerfs at /union", daemon.log
        )
        how = "mergerfs"
    except TestbedError as exc:
        log(f"mergerfs failed ({exc}); /union falls back to a bind mount of /archive")
        reg.stop("mergerfs")
        with contextlib.suppress(TestbedError):
            run(["umount", union])
        run(["mount", "--bind", "/archive", union])
        how = "bind"
    record["union"] = how
    _save_mounts(lay, record)
    return how


class MountRecord(TypedDict):
    """What up mounted: bind targets, and how /union was made ("mergerfs" or "bind")."""

    binds: list[str]
    union: str


def _load_mounts(lay: L.Layout) -> MountRecord:
    record = MountRecord(binds=[], union="")
    try:
        data = json.loads(lay.mounts_file.read_text())
    except (OSError, ValueError):
        return record
    if isinstance(data, dict):
        record["binds"] = [str(item) for item in data.get("binds", [])]
        record["union"] = str(data.get("union", ""))
    return record


def _save_mounts(lay: L.Layout, record: MountRecord) -> None:
    write_file(lay.mounts_file, json.dumps(record, indent=2) + "\n")


# ---------------------------------------------------------------------------- munge, mariadb


def ensure_munge(lay: L.Layout, reg: Registry) -> None:
    """munged as user munge, in the foreground, with the package's key."""
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        write_file(key, "", mode=0o400, owner="munge")
        key.write_bytes(secrets.token_bytes(1024))
    fix_perms(key, 0o400, "munge")
    ensure_dir(Path("/run/munge"), 0o755, "munge")
    ensure_dir(Path("/var/lib/munge"), 0o700, "munge")
    ensure_dir(Path("/var/log/munge"), 0o700, "munge")
    if reg.running("munged") is not None:
        return
    if unix_open(MUNGE_SOCKET):
        log("munged is already running (not started by the testbed): using it")
        return
    # A lock left by a killed munged makes the next one refuse to start.
    Path("/run/munge/munge.socket.2.lock").unlink(missing_ok=True)
    daemon = Daemon(
        name="munged",
        argv=("/usr/sbin/munged", "-F", "--num-threads=4"),
        exe="/usr/sbin/munged",
        log=lay.logs / "munged.log",
        user="munge",
    )
    record = reg.start(daemon)
    require_alive(reg, record, lambda: unix_open(MUNGE_SOCKET), 10.0, "munged", daemon.log)


def require_alive(
    reg: Registry,
    record: Record,
    ready: Callable[[], bool],
    timeout: float,
    what: str,
    log_path: Path,
) -> None:
    """Wait for ``ready()``, failing at once if the daemon dies meanwhile."""
    died = False

    def check() -> bool:
        nonlocal died
        if not reg.alive(record, allow_exec_chain=True):
            died = True
            return True
        return bool(ready())

    require(check, timeout, what, log_path)
    if died:
        tail = _tail(log_path)
        raise TestbedError(f"{what} exited during start; {log_path}:\n{tail}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def mariadb_daemon(lay: L.Layout) -> Daemon:
    """MariaDB on a Unix socket only, utf8mb4 so CJK job names survive."""
    return Daemon(
        name="mariadb",
        argv=(
            "/usr/sbin/mariadbd", "--no-defaults", "--user=mysql",
            f"--datadir={lay.mysql}", f"--socket={L.DB_SOCKET}",
            "--pid-file=/run/mysqld/mariadb.pid", "--skip-networking", "--skip-name-resolve",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
            "--skip-character-set-client-handshake",
            "--innodb-buffer-pool-size=16M", "--innodb-log-buffer-size=2M",
            "--innodb-lock-wait-timeout=900", "--key-buffer-size=1M",
            "--aria-pagecache-buffer-size=2M", "--query-cache-size=0",
            "--performance-schema=OFF", "--max-connections=64", "--skip-log-bin",
        ),
        exe="/usr/sbin/mariadbd",
        log=lay.logs / "mariadb.log",
    )  # fmt: skip


def ensure_mariadb(lay: L.Layout, reg: Registry, db_password: str) -> bool:
    """Start MariaDB (initialising its data dir once); True when it was (re)started."""
    ensure_dir(Path("/run/mysqld"), 0o755, "mysql")
    daemon = mariadb_daemon(lay)
    if reg.running("mariadb") is not None and unix_open(L.DB_SOCKET):
        return False
    if not (lay.mysql / "mysql").is_dir():
        ensure_dir(lay.mysql, 0o750, "mysql")
        log("initialising MariaDB")
        run(
            [
                "mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={lay.mysql}",
                "--auth-root-authentication-method=socket", "--skip-test-db",
                "--skip-name-resolve",
            ],
            timeout=120,
        )  # fmt: skip
    record, _ = reg.ensure(daemon)
    require_alive(reg, record, lambda: unix_open(L.DB_SOCKET), 30.0, "MariaDB", daemon.log)
    # The password goes on stdin, never on a command line.
    sql = (
        "CREATE DATABASE IF NOT EXISTS slurm_acct_db CHARACTER SET utf8mb4;\n"
        f"CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '{db_password}';\n"
        f"ALTER USER 'slurm'@'localhost' IDENTIFIED BY '{db_password}';\n"
        "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';\n"
        "FLUSH PRIVILEGES;\n"
    )
    run(["mariadb", "--no-defaults", f"--socket={L.DB_SOCKET}", "-u", "root"], input_text=sql)
    return True


# ---------------------------------------------------------------------------- slurm


def slurm_env(lay: L.Layout, cluster: str) -> dict[str, str]:
    """Environment for Slurm commands aimed at one controller."""
    return {"SLURM_CONF": str(lay.slurm_conf(cluster))}


def ensure_slurmdbd(lay: L.Layout, reg: Registry, db_password: str, db_restarted: bool) -> None:
    """slurmdbd on port 6819, shared by both controllers."""
    ensure_dir(lay.slurm_dir("pi"), 0o755)
    write_file(
        lay.slurmdbd_conf, L.slurmdbd_conf_text(lay, db_password), mode=0o600, owner=SLURM_UID_NAME
    )
    daemon = Daemon(
        name="slurmdbd",
        argv=("/usr/sbin/slurmdbd", "-D"),
        exe="/usr/sbin/slurmdbd",
        log=lay.logs / "slurmdbd.log",
        env=slurm_env(lay, "pi"),
        inputs=(lay.slurmdbd_conf,),
    )
    record, started = reg.ensure(daemon)
    if started:
        require_alive(
            reg, record, lambda: tcp_open("127.0.0.1", L.DBD_PORT), 60.0, "slurmdbd", daemon.log
        )


def ensure_accounting(lay: L.Layout) -> None:
    """Clusters pi and sy, account acct-hpc, users hpcuser and otheruser (query first).

    A stamp file records that this was done for this database, so a re-run skips the
    (slow) sacctmgr queries.
    """
    stamp = lay.root / "accounting.done"
    wanted = json.dumps(
        {
            "clusters": [item.name for item in L.CLUSTERS],
            "account": L.ACCOUNT,
            "users": [user.name for user in L.USERS],
        }
    )
    with contextlib.suppress(OSError):
        if stamp.read_text() == wanted:
            return
    env = slurm_env(lay, "pi")

    def show(*what: str) -> set[str]:
        proc = run(["sacctmgr", "-n", "-P", "show", *what], env=env)
        return {line.strip() for line in proc.stdout.splitlines() if line.strip()}

    clusters = show("cluster", "format=cluster")
    for item in L.CLUSTERS:
        if item.name not in clusters:
            run(["sacctmgr", "-i", "add", "cluster", item.name], env=env)
    assocs = show("assoc", "format=cluster,account,user")
    for item in L.CLUSTERS:
        if f"{item.name}|{L.ACCOUNT}|" not in assocs:
            run(
                ["sacctmgr", "-i", "add", "account", L.ACCOUNT, f"cluster={item.name}",
                 "description=suan testbed", "organization=sjtu"],
                env=env,
            )  # fmt: skip
        for user in L.USERS:
            if f"{item.name}|{L.ACCOUNT}|{user.name}" not in assocs:
                run(
                    ["sacctmgr", "-i", "add", "user", user.name, f"account={L.ACCOUNT}",
                     f"cluster={item.name}", f"defaultaccount={L.ACCOUNT}"],
                    env=env,
                )  # fmt: skip
    write_file(stamp, wanted)


def write_slurm_configs(lay: L.Layout) -> None:
    """slurm.conf and gres.conf of both controllers, state and spool dirs, GPU devices."""
    hostname = socket.gethostname().split(".")[0]
    ensure_dir(lay.run, 0o755, SLURM_UID_NAME)
    for item in L.CLUSTERS:
        base = lay.slurm_dir(item.name)
        ensure_dir(base, 0o755)
        ensure_dir(base / "state", 0o700, SLURM_UID_NAME)
        ensure_dir(base / "spool", 0o755)
        for node in item.nodes:
            ensure_dir(base / "spool" / node.name, 0o755)
        write_file(lay.slurm_conf(item.name), L.slurm_conf_text(lay, item, hostname))
        if any(node.gpus for node in item.nodes):
            write_file(base / "gres.conf", L.gres_conf_text(lay, item))
        for node in item.nodes:
            for index in range(node.gpus):
                ensure_gpu_device(
                    lay.gpu_device(node.name, index), 195, _gpu_minor(item, node, index)
                )


def _gpu_minor(item: L.Cluster, node: L.SlurmNode, index: int) -> int:
    before = 0
    for other in item.nodes:
        if other.name == node.name:
            break
        before += other.gpus
    return before + index


def ensure_gpu_device(path: Path, major: int, minor: int) -> None:
    """A character device (Slurm rejects plain files as GPU devices)."""
    try:
        info = path.lstat()
        if stat.S_ISCHR(info.st_mode) and info.st_rdev == os.makedev(major, minor):
            return
        path.unlink()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))


def slurm_daemons(lay: L.Layout) -> list[Daemon]:
    """Both controllers, then every fake node's slurmd."""
    daemons: list[Daemon] = []
    for item in L.CLUSTERS:
        conf = lay.slurm_conf(item.name)
        inputs: tuple[Path, ...] = (conf,)
        gres = lay.slurm_dir(item.name) / "gres.conf"
        if any(node.gpus for node in item.nodes):
            inputs = (conf, gres)
        daemons.append(
            Daemon(
                name=f"slurmctld-{item.name}",
                argv=("/usr/sbin/slurmctld", "-D", "-f", str(conf)),
                exe="/usr/sbin/slurmctld",
                log=lay.logs / f"slurmctld-{item.name}.log",
                env=slurm_env(lay, item.name),
                inputs=inputs,
            )
        )
        for node in item.nodes:
            daemons.append(
                Daemon(
                    name=f"slurmd-{node.name}",
                    argv=("/usr/sbin/slurmd", "-D", "-N", node.name, "-f", str(conf)),
                    exe="/usr/sbin/slurmd",
                    log=lay.logs / f"slurmd-{node.name}.log",
                    env=slurm_env(lay, item.name),
                    inputs=inputs,
                )
            )
    return daemons


def node_states(lay: L.Layout, cluster: str) -> dict[str, str]:
    """Node name → short state (``idle``, ``mix``, ``idle*`` …) from sinfo."""
    proc = run(["sinfo", "-h", "-N", "-o", "%N|%t"], env=slurm_env(lay, cluster), check=False)
    states: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        name, _, state = line.partition("|")
        states[name.strip()] = state.strip()
    return states


_READY_STATES = {"idle", "mix", "alloc", "plnd", "comp", "resv"}


def nodes_ready(lay: L.Layout, item: L.Cluster) -> bool:
    """Every node of ``item`` registered and usable."""
    states = node_states(lay, item.name)
    return all(states.get(node.name) in _READY_STATES for node in item.nodes)


def ensure_slurm(lay: L.Layout, reg: Registry) -> None:
    """Controllers and nodes running and registered."""
    daemons = slurm_daemons(lay)
    for daemon in daemons:
        if daemon.name.startswith("slurmctld-"):
            record, started = reg.ensure(daemon)
            if started:
                item = L.cluster(daemon.name.removeprefix("slurmctld-"))
                require_alive(
                    reg, record, functools.partial(tcp_open, "127.0.0.1", item.ctld_port),
                    30.0, daemon.name, daemon.log,
                )  # fmt: skip
    started_nodes = []
    for daemon in daemons:
        if daemon.name.startswith("slurmd-"):
            record, started = reg.ensure(daemon)
            if started:
                started_nodes.append((daemon, record))
    for item in L.CLUSTERS:
        if nodes_ready(lay, item):
            continue

        def ready(item: L.Cluster = item) -> bool:
            for daemon, record in started_nodes:
                if not reg.alive(record, allow_exec_chain=True):
                    raise TestbedError(f"{daemon.name} exited; {daemon.log}:\n{_tail(daemon.log)}")
            return nodes_ready(lay, item)

        if not wait_until(ready, 30.0, interval=0.2):
            # A node left DOWN by an earlier life of the testbed needs an explicit resume.
            for name, state in node_states(lay, item.name).items():
                if state.startswith(("down", "drain", "fail")):
                    run(
                        ["scontrol", "update", f"NodeName={name}", "State=RESUME"],
                        env=slurm_env(lay, item.name),
                        check=False,
                    )
            require(ready, 20.0, f"the nodes of cluster {item.name} to register", lay.logs)


# ---------------------------------------------------------------------------- ssh


def ensure_ca(path: Path, comment: str) -> None:
    """An Ed25519 CA key pair (private 0600, root only directory)."""
    ensure_dir(path.parent, 0o700, 0, 0)
    if not path.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    fix_perms(path, 0o600)


#: The client certificate is re-signed when less than this much of it is left.
CLIENT_CERT_DAYS = 7
CLIENT_CERT_RENEW_AFTER = 24 * 3600.0


def ensure_client_identity(lay: L.Layout) -> None:
    """hpcuser's key and a current certificate for plain OpenSSH (``SSH_CONFIG``).

    Re-signed only when a day old, so a re-run on a live testbed changes nothing."""
    ensure_dir(lay.client_dir, 0o700, 0, 0)
    key = lay.client_dir / "id_ed25519"
    cert = Path(f"{key}-cert.pub")
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hpcuser", "-f", str(key)])
    if not cert.exists() or time.time() - cert.stat().st_mtime > CLIENT_CERT_RENEW_AFTER:
        run(
            ["ssh-keygen", "-q", "-s", str(lay.user_ca), "-I", "testbed-client", "-n", "hpcuser",
             "-V", f"-5m:+{CLIENT_CERT_DAYS}d", f"{key}.pub"]
        )  # fmt: skip
    write_file(lay.ssh_config, L.ssh_config_text(lay), mode=0o644)


def ensure_entry_nodes(lay: L.Layout, reg: Registry) -> None:
    """CAs, host keys and certificates, known_hosts, configs; one sshd per entry node."""
    ensure_ca(lay.host_ca, "suan testbed host CA")
    ensure_ca(lay.user_ca, "suan testbed user CA")
    write_file(lay.known_hosts, L.known_hosts_text(Path(f"{lay.host_ca}.pub").read_text()))
    host_passwd = Path("/etc/passwd").read_text()
    ensure_dir(lay.etc, 0o755)
    for pool in L.HOT_POOLS:
        write_file(lay.passwd_file(pool), L.passwd_text(host_passwd, pool))
    ensure_dir(Path("/run/sshd"), 0o755, 0, 0)
    union = lay.root / "pids" / "mergerfs.json"
    for node in L.ENTRY_NODES:
        ssh = lay.ssh_dir(node.name)
        ensure_dir(ssh, 0o755)
        key = ssh / "ssh_host_ed25519_key"
        cert = ssh / "ssh_host_ed25519_key-cert.pub"
        if not key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", node.name, "-f", str(key)])
            cert.unlink(missing_ok=True)
        if not cert.exists():
            principals = f"{node.address},{node.name},{node.name}.hpc.test,localhost"
            run(
                ["ssh-keygen", "-q", "-s", str(lay.host_ca), "-h", "-I", f"{node.name}-host",
                 "-n", principals, f"{key}.pub"]
            )  # fmt: skip
        config = ssh / "sshd_config"
        if write_file(config, L.sshd_config_text(lay, node)):
            run(["/usr/sbin/sshd", "-t", "-f", str(config)])
        script = ssh / "namespace.sh"
        write_file(script, L.namespace_script_text(lay, node), mode=0o755)
        daemon = Daemon(
            name=f"sshd-{node.name}",
            argv=(
                "/usr/bin/unshare", "--mount", "--propagation", "private",
                "/bin/sh", str(script),
            ),
            exe="/usr/sbin/sshd",
            log=lay.logs / f"sshd-{node.name}.out",
            # A restarted mergerfs or new passwd copies need a fresh namespace too.
            inputs=(config, script, lay.passwd_file(node.home_pool), Path(f"{lay.user_ca}.pub"),
                    cert, union),
        )  # fmt: skip
        record, started = reg.ensure(daemon)
        if started:
            require_alive(
                reg, record, functools.partial(tcp_open, node.address, L.SSH_PORT), 15.0,
                daemon.name, daemon.log,
            )  # fmt: skip


# ---------------------------------------------------------------------------- api, configs


def ensure_api(lay: L.Layout, reg: Registry, passwords: dict[str, str]) -> None:
    """The HPC API stand-in on 127.0.0.1:18765, answering its health check."""
    ensure_dir(lay.api_dir, 0o700, 0, 0)
    config = lay.api_dir / "config.json"
    write_file(config, L.api_config_text(lay, passwords), mode=0o600)
    script = lay.api_script
    if not script.exists():
        raise TestbedError(f"the HPC API stand-in {script} does not exist")
    daemon = Daemon(
        name="hpc-api",
        argv=(
            "/usr/bin/python3", str(script), "--dir", str(lay.api_dir),
            "--host", L.API_HOST, "--port", str(L.API_PORT),
        ),
        exe=os.path.realpath("/usr/bin/python3"),
        log=lay.logs / "hpc-api.log",
        inputs=(script, config),
    )  # fmt: skip
    record, started = reg.ensure(daemon)
    health = f"http://{L.API_HOST}:{L.API_PORT}/_testbed/health"
    if started:
        require_alive(reg, record, lambda: http_ok(health), 15.0, "the HPC API", daemon.log)


def all_daemon_names() -> list[str]:
    """Every daemon ``up`` may record, in start order."""
    names = ["mergerfs", "munged", "mariadb", "slurmdbd"]
    for item in L.CLUSTERS:
        names.append(f"slurmctld-{item.name}")
    for item in L.CLUSTERS:
        names += [f"slurmd-{node.name}" for node in item.nodes]
    names += [f"sshd-{node.name}" for node in L.ENTRY_NODES]
    names.append("hpc-api")
    return names


def check_all(lay: L.Layout, reg: Registry, union: str) -> None:
    """Every piece answers: the condition for writing testbed.env."""
    wanted = [name for name in all_daemon_names() if not (name == "mergerfs" and union == "bind")]
    wanted = [
        name
        for name in wanted
        if not (name == "munged" and reg.load(name) is None and unix_open(MUNGE_SOCKET))
    ]
    dead = [name for name in wanted if reg.running(name) is None]
    if dead:
        raise TestbedError(f"not running: {', '.join(dead)}")
    for item in L.CLUSTERS:
        if not nodes_ready(lay, item):
            raise TestbedError(f"cluster {item.name}: nodes {node_states(lay, item.name)}")
    for node in L.ENTRY_NODES:
        if not tcp_open(node.address, L.SSH_PORT):
            raise TestbedError(f"entry node {node.name} does not answer")
    if not http_ok(f"http://{L.API_HOST}:{L.API_PORT}/_testbed/health"):
        raise TestbedError("the HPC API does not answer")


def up(lay: L.Layout, seed_jobs: bool) -> None:
    """Bring everything up (idempotent), optionally seed, then write testbed.env."""
    # The machine's processes can end without down (a session is stopped, a machine is
    # handed on). Restarting the daemons over that state would keep seeded jobs that
    # died with their steps: start again from nothing instead.
    dead = Registry(lay.pids).dead()
    if dead:
        log(f"found a testbed whose daemons died ({', '.join(dead[:4])}…): purging it first")
        down(lay)
    ensure_packages()
    ensure_dir(lay.root, 0o755, 0, 0)
    ensure_dir(lay.logs, 0o755, 0, 0)
    reg = Registry(lay.pids)
    ensure_users()
    passwords = load_secrets(lay)
    union = ensure_storage(lay, reg)
    ensure_munge(lay, reg)
    write_slurm_configs(lay)
    db_restarted = ensure_mariadb(lay, reg, passwords["mariadb_slurm"])
    ensure_slurmdbd(lay, reg, passwords["mariadb_slurm"], db_restarted)
    ensure_accounting(lay)
    ensure_slurm(lay, reg)
    ensure_entry_nodes(lay, reg)
    ensure_client_identity(lay)
    ensure_api(lay, reg, passwords)
    write_file(lay.suan_toml, L.suan_toml_text(lay))
    if seed_jobs and not lay.seeded_file.exists():
        import seed

        log("seeding jobs")
        seed.seed(lay)
    check_all(lay, reg, union)
    if reg.started:
        log(f"up: started {len(reg.started)} daemons: {' '.join(reg.started)}")
    else:
        log("up: everything was already running")
    if write_file(lay.env_file, L.testbed_env_text(lay, passwords), mode=0o600):
        log(f"up: wrote {lay.env_file}")


# ---------------------------------------------------------------------------- down


def _cancel_all_jobs(lay: L.Layout, reg: Registry) -> None:
    for item in L.CLUSTERS:
        if reg.running(f"slurmctld-{item.name}") is None:
            continue
        env = slurm_env(lay, item.name)
        proc = run(["squeue", "-h", "-o", "%A"], env=env, check=False)
        ids = sorted({line.strip() for line in proc.stdout.splitlines() if line.strip()})
        if ids:
            run(["scancel", *ids], env=env, check=False)
    # Job steps outlive slurmd: let Slurm end them before its daemons go.
    wait_until(lambda: not list(_slurmstepd_pids()), 20.0, interval=0.2)


def _slurmstepd_pids() -> Iterator[int]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and process_exe(int(entry.name)) == "/usr/sbin/slurmstepd":
            yield int(entry.name)


def _mount_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _end_namespace(namespace: str) -> None:
    """End what still runs inside an entry node's mount namespace (sessions, tmux servers).

    Each login's sshd child calls setsid, so stopping the listener leaves them running;
    the namespace identifies them exactly, and it is never the host's own.
    """
    if namespace == _mount_namespace(os.getpid()):
        return

    def members() -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _mount_namespace(int(entry.name)) == namespace:
                pids.append(int(entry.name))
        return pids

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in members():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        if wait_until(lambda: not members(), 5.0, interval=0.1):
            return


def down(lay: L.Layout) -> None:
    """Stop what up started (by records), unmount what it mounted, purge $TESTBED."""
    lay.env_file.unlink(missing_ok=True)
    reg = Registry(lay.pids)
    _cancel_all_jobs(lay, reg)
    order = list(reversed(all_daemon_names()))
    # mergerfs goes after everything that might hold files open under /union.
    order.remove("mergerfs")
    order.append("mergerfs")
    known = set(order)
    for name in [*order, *(n for n in reg.names() if n not in known)]:
        daemon_record = reg.load(name)
        if daemon_record is None:
            continue
        namespace = None
        if name.startswith("sshd-") and reg.alive(daemon_record):
            namespace = _mount_namespace(daemon_record.pid)
        reg.stop(name)
        if namespace is not None:
            _end_namespace(namespace)
    record = _load_mounts(lay)
    targets: list[str] = []
    if record["union"] == "bind":
        targets.append(str(L.UNION_MOUNT))
    targets += list(reversed(record["binds"]))
    table = mounts()
    if record["union"] == "mergerfs" and table.get(str(L.UNION_MOUNT)) == "fuse.mergerfs":
        targets.insert(0, str(L.UNION_MOUNT))
    for target in targets:
        if target in mounts() and run(["umount", target], check=False).returncode != 0:
            run(["umount", "-l", target], check=False)
    lay.mounts_file.unlink(missing_ok=True)
    leftover = [point for point in mounts() if point.startswith(str(lay.root) + "/")]
    if leftover:
        raise TestbedError(f"still mounted under {lay.root}: {leftover}; not purging")
    if lay.root.exists():
        run(["rm", "-rf", "--one-file-system", str(lay.root)])
    log("down: stopped and purged")


def status(lay: L.Layout) -> int:
    """Print each recorded daemon with its pid and RSS; exit 0 when all run."""
    reg = Registry(lay.pids)
    total = 0
    dead = 0
    for name in reg.names():
        record = reg.running(name)
        if record is None:
            dead += 1
            print(f"{name:22} DEAD")
            continue
        rss = rss_kib(record.pid)
        total += rss
        print(f"{name:22} pid {record.pid:<8} rss {rss / 1024:7.1f} MiB")
    print(f"{'total':22} {'':12} rss {total / 1024:7.1f} MiB")
    print(f"testbed.env: {'present' if lay.env_file.exists() else 'absent'}")
    return 1 if dead else 0


def main(argv: list[str] | None = None) -> int:
    """Command line: ``up [--seed]``, ``down``, ``status``."""
    parser = argparse.ArgumentParser(description="the suan testbed")
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="bring the testbed up (idempotent)")
    up_parser.add_argument("--seed", action="store_true", help="submit the seed jobs once")
    sub.add_parser("down", help="stop everything up started and purge the state")
    sub.add_parser("status", help="list the daemons and their memory")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("the testbed needs root", file=sys.stderr)
        return 2
    lay = L.Layout.from_env()
    # One up or down at a time: two concurrent runs would race on the same daemons.
    lock = open(f"{lay.root}.lock", "a")  # noqa: SIM115 (held until exit)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        if args.command == "up":
            up(lay, bool(args.seed))
        elif args.command == "down":
            down(lay)
        else:
            return status(lay)
    except TestbedError as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 1
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
