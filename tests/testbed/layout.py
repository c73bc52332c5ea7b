"""The shape of the testbed: paths, users, clusters, entry nodes, and the files made from them.

Everything here is pure: functions turn the layout into file texts, and ``testbed.py`` writes
them. Keeping the texts pure lets a re-run compare them with what is on disk and change
nothing when nothing changed.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

API_HOST = "127.0.0.1"
API_PORT = 18765
SSH_PORT = 2222
DBD_PORT = 6819
DB_SOCKET = Path("/run/mysqld/mysqld.sock")
ACCOUNT = "acct-hpc"
ACCOUNT_GID = 5000

HOT_POOLS = ("lustre", "dssg")
COLD_POOLS = ("archive", "vault")
POOLS = HOT_POOLS + COLD_POOLS
UNION_MOUNT = Path("/union")

PACKAGES = (
    "slurmctld",
    "slurmd",
    "slurm-client",
    "slurmdbd",
    "slurm-wlm-basic-plugins",
    "munge",
    "mariadb-server",
    "openssh-server",
    "openssh-client",
    "mergerfs",
    "fuse3",
    "tmux",
    "rsync",
)


@dataclass(frozen=True)
class User:
    """A Unix user of the testbed, the same uid everywhere."""

    name: str
    uid: int


USERS = (User("hpcuser", 5001), User("otheruser", 5002))


@dataclass(frozen=True)
class SlurmNode:
    """One fake compute node: its own slurmd on 127.0.0.1 at its own port."""

    name: str
    port: int
    cpus: int
    sockets: int
    memory_mb: int
    gpus: int = 0


@dataclass(frozen=True)
class SlurmPartition:
    """One partition of a cluster."""

    name: str
    nodes: str
    max_time: str
    default_time: str
    def_mem_per_cpu: int
    default: bool = False
    state: str = "UP"


@dataclass(frozen=True)
class Cluster:
    """One Slurm controller (``ClusterName``) with its nodes and partitions."""

    name: str
    ctld_port: int
    first_job_id: int
    nodes: tuple[SlurmNode, ...]
    partitions: tuple[SlurmPartition, ...]


WEEK = "7-00:00:00"

CLUSTERS = (
    Cluster(
        name="pi",
        ctld_port=6817,
        first_job_id=1000,
        nodes=(
            SlurmNode("cas001", 17001, 40, 2, 192000),
            SlurmNode("cas002", 17002, 40, 2, 192000),
            SlurmNode("cas003", 17003, 40, 2, 192000),
            SlurmNode("debug001", 17004, 40, 2, 192000),
            SlurmNode("huge001", 17005, 80, 4, 3000000),
            SlurmNode("kp001", 17006, 128, 2, 256000),
            SlurmNode("kp002", 17007, 128, 2, 256000),
        ),
        partitions=(
            SlurmPartition("cpu", "cas[001-003]", WEEK, WEEK, 4000, default=True),
            SlurmPartition("debug", "debug001", "20", "20", 4000),
            SlurmPartition("huge", "huge001", "2-00:00:00", "2-00:00:00", 37000, state="DOWN"),
            SlurmPartition("arm128c256g", "kp[001-002]", WEEK, WEEK, 2000),
        ),
    ),
    Cluster(
        name="sy",
        ctld_port=6827,
        first_job_id=500000,
        nodes=(
            SlurmNode("sy001", 17101, 64, 2, 512000),
            SlurmNode("sy002", 17102, 64, 2, 512000),
            SlurmNode("gpu01", 17103, 64, 2, 512000, gpus=4),
            SlurmNode("gpu02", 17104, 64, 2, 512000, gpus=4),
        ),
        partitions=(
            SlurmPartition("small", "sy[001-002]", WEEK, WEEK, 8000, default=True),
            SlurmPartition("64c512g", "sy[001-002]", WEEK, WEEK, 8000),
            SlurmPartition("a100", "gpu[01-02]", WEEK, WEEK, 8000),
        ),
    ),
)


def cluster(name: str) -> Cluster:
    """The cluster called ``name``."""
    for item in CLUSTERS:
        if item.name == name:
            return item
    raise KeyError(name)


@dataclass(frozen=True)
class EntryNode:
    """An entry node: one sshd in its own mount namespace.

    ``cluster`` is the controller its sessions submit to (``SLURM_CONF``), ``home_pool``
    the pool holding users' homes there, ``hot_visible`` the hot pools it sees, and
    ``cold_writable`` whether /archive, /vault and /union are writable on it.
    """

    name: str
    address: str
    cluster: str
    home_pool: str
    hot_visible: tuple[str, ...]
    cold_writable: bool

    @property
    def endpoint(self) -> str:
        """``host:port`` as clients write it."""
        return f"{self.address}:{SSH_PORT}"


ENTRY_NODES = (
    EntryNode("pilogin", "127.0.0.2", "pi", "lustre", ("lustre",), cold_writable=False),
    EntryNode("sylogin", "127.0.0.3", "sy", "dssg", ("dssg",), cold_writable=False),
    EntryNode("armlogin", "127.0.0.4", "pi", "lustre", ("lustre",), cold_writable=False),
    EntryNode("data", "127.0.0.5", "pi", "lustre", HOT_POOLS, cold_writable=True),
    EntryNode("sydata", "127.0.0.6", "sy", "dssg", HOT_POOLS, cold_writable=True),
)


def entry_nodes_value() -> str:
    """The ``ENTRY_NODES`` value of testbed.env."""
    return ",".join(f"{node.name}={node.endpoint}" for node in ENTRY_NODES)


def home_of(pool: str, user: str) -> Path:
    """A user's personal directory in a pool, as mounted: ``/lustre/home/acct-hpc/hpcuser``."""
    return Path("/") / pool / "home" / ACCOUNT / user


class Layout:
    """Every path of one testbed, rooted at ``$TESTBED``."""

    def __init__(self, root: Path, repo: Path) -> None:
        self.root = root
        self.repo = repo

    @classmethod
    def from_env(cls) -> Layout:
        """The layout for ``$TESTBED`` (default /tmp/suan-testbed) and this checkout."""
        root = Path(os.environ.get("TESTBED", "/tmp/suan-testbed"))
        return cls(root.absolute(), Path(__file__).resolve().parent.parent.parent)

    @property
    def pids(self) -> Path:
        """Pid records of the daemons this testbed started (root only)."""
        return self.root / "pids"

    @property
    def logs(self) -> Path:
        """Daemon output."""
        return self.root / "log"

    @property
    def run(self) -> Path:
        """Daemon-written pid files and sockets (owned by slurm)."""
        return self.root / "run"

    @property
    def secrets_file(self) -> Path:
        """Random passwords generated once per testbed life."""
        return self.root / "secrets.json"

    @property
    def storage(self) -> Path:
        """The raw pools, bind-mounted at /lustre, /dssg, /archive, /vault."""
        return self.root / "storage"

    @property
    def mysql(self) -> Path:
        """MariaDB's data directory."""
        return self.root / "mysql"

    @property
    def ca(self) -> Path:
        """The host and user certificate authorities (root only)."""
        return self.root / "ca"

    @property
    def host_ca(self) -> Path:
        """Host CA private key."""
        return self.ca / "host_ca"

    @property
    def user_ca(self) -> Path:
        """User CA private key (the HPC API signs with it)."""
        return self.ca / "user_ca"

    @property
    def known_hosts(self) -> Path:
        """The client known_hosts file trusting the host CA."""
        return self.root / "known_hosts"

    @property
    def etc(self) -> Path:
        """Per-group /etc/passwd copies."""
        return self.root / "etc"

    @property
    def dev(self) -> Path:
        """Fake GPU character devices."""
        return self.root / "dev"

    @property
    def api_dir(self) -> Path:
        """The HPC API stand-in's directory (config.json)."""
        return self.root / "api"

    @property
    def api_script(self) -> Path:
        """The HPC API stand-in, or the script named by ``TESTBED_HPC_API_SCRIPT``."""
        override = os.environ.get("TESTBED_HPC_API_SCRIPT")
        if override:
            return Path(override)
        return self.repo / "tests" / "testbed" / "hpc_api.py"

    @property
    def client_dir(self) -> Path:
        """hpcuser's OpenSSH client identity (key + current certificate) and ssh_config."""
        return self.root / "client"

    @property
    def ssh_config(self) -> Path:
        """An OpenSSH client config with Host aliases for the five entry nodes."""
        return self.client_dir / "ssh_config"

    @property
    def suan_toml(self) -> Path:
        """suan's config for this testbed."""
        return self.root / "suan.toml"

    @property
    def env_file(self) -> Path:
        """testbed.env: present only when everything is up and checked."""
        return self.root / "testbed.env"

    @property
    def seeded_file(self) -> Path:
        """Seeded job key → job id; also the marker that seeding happened."""
        return self.root / "seeded.json"

    @property
    def mounts_file(self) -> Path:
        """What up mounted (so down unmounts exactly that) and how /union was made."""
        return self.root / "mounts.json"

    def slurm_dir(self, cluster_name: str) -> Path:
        """One controller's directory: slurm.conf, gres.conf, state, spool."""
        return self.root / "slurm" / cluster_name

    def slurm_conf(self, cluster_name: str) -> Path:
        """One controller's slurm.conf."""
        return self.slurm_dir(cluster_name) / "slurm.conf"

    @property
    def slurmdbd_conf(self) -> Path:
        """slurmdbd.conf lives beside pi's slurm.conf: slurmdbd finds it through SLURM_CONF."""
        return self.slurm_dir("pi") / "slurmdbd.conf"

    def ssh_dir(self, node: str) -> Path:
        """One entry node's sshd files."""
        return self.root / "ssh" / node

    def passwd_file(self, home_pool: str) -> Path:
        """/etc/passwd as seen on entry nodes whose homes are on ``home_pool``."""
        return self.etc / f"passwd.{home_pool}"

    def gpu_device(self, node: str, index: int) -> Path:
        """A fake GPU device file."""
        return self.dev / node / f"nvidia{index}"


def slurm_conf_text(layout: Layout, item: Cluster, hostname: str) -> str:
    """slurm.conf for one controller."""
    base = layout.slurm_dir(item.name)
    has_gpus = any(node.gpus for node in item.nodes)
    lines = [
        f"# suan testbed: cluster {item.name} (generated by tests/testbed; edits are overwritten)",
        f"ClusterName={item.name}",
        f"SlurmctldHost={hostname}(127.0.0.1)",
        f"SlurmctldPort={item.ctld_port}",
        "SlurmUser=slurm",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"StateSaveLocation={base}/state",
        f"SlurmdSpoolDir={base}/spool/%n",
        f"SlurmctldPidFile={layout.run}/slurmctld-{item.name}.pid",
        f"SlurmdPidFile={layout.run}/slurmd-%n.pid",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/linux",
        "JobAcctGatherFrequency=2",
        "AccountingStorageType=accounting_storage/slurmdbd",
        "AccountingStorageHost=localhost",
        f"AccountingStoragePort={DBD_PORT}",
        "AccountingStorageTRES=gres/gpu",
        "AccountingStoreFlags=job_script",
        "JobCompType=jobcomp/none",
        "SchedulerType=sched/backfill",
        "SchedulerParameters=bf_interval=5",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        f"FirstJobId={item.first_job_id}",
        "MinJobAge=120",
        "ReturnToService=2",
        "SlurmctldTimeout=120",
        "SlurmdTimeout=300",
        "InactiveLimit=0",
        "KillWait=5",
        "MpiDefault=none",
        "SwitchType=switch/none",
        "MailProg=/bin/true",
        "SlurmdParameters=config_overrides",
    ]
    if has_gpus:
        lines.append("GresTypes=gpu")
    for node in item.nodes:
        cores = node.cpus // node.sockets
        gres = f" Gres=gpu:a100:{node.gpus}" if node.gpus else ""
        lines.append(
            f"NodeName={node.name} NodeAddr=127.0.0.1 Port={node.port} CPUs={node.cpus}"
            f" Sockets={node.sockets} CoresPerSocket={cores} ThreadsPerCore=1"
            f" RealMemory={node.memory_mb}{gres} State=UNKNOWN"
        )
    for part in item.partitions:
        default = " Default=YES" if part.default else ""
        lines.append(
            f"PartitionName={part.name} Nodes={part.nodes}{default} MaxTime={part.max_time}"
            f" DefaultTime={part.default_time} DefMemPerCPU={part.def_mem_per_cpu}"
            f" State={part.state}"
        )
    return "\n".join(lines) + "\n"


def gres_conf_text(layout: Layout, item: Cluster) -> str:
    """gres.conf: fake A100s backed by character devices (plain files are rejected)."""
    lines = ["# suan testbed: fake GPUs", "AutoDetect=off"]
    for node in item.nodes:
        if node.gpus:
            first = layout.gpu_device(node.name, 0).parent
            lines.append(
                f"NodeName={node.name} Name=gpu Type=a100 File={first}/nvidia[0-{node.gpus - 1}]"
            )
    return "\n".join(lines) + "\n"


def slurmdbd_conf_text(layout: Layout, db_password: str) -> str:
    """slurmdbd.conf (holds the database password: owned by slurm, 0600)."""
    return "\n".join(
        [
            "# suan testbed: accounting for clusters pi and sy",
            "AuthType=auth/munge",
            "DbdHost=localhost",
            f"DbdPort={DBD_PORT}",
            "SlurmUser=slurm",
            "DebugLevel=info",
            f"PidFile={layout.run}/slurmdbd.pid",
            "StorageType=accounting_storage/mysql",
            "StorageHost=localhost",
            "StorageUser=slurm",
            f"StoragePass={db_password}",
            "StorageLoc=slurm_acct_db",
            "",
        ]
    )


def sshd_config_text(layout: Layout, node: EntryNode) -> str:
    """One entry node's sshd_config: certificates only, its group's SLURM_CONF."""
    ssh = layout.ssh_dir(node.name)
    return "\n".join(
        [
            f"# suan testbed: entry node {node.name}",
            f"ListenAddress {node.address}",
            f"Port {SSH_PORT}",
            f"HostKey {ssh}/ssh_host_ed25519_key",
            f"HostCertificate {ssh}/ssh_host_ed25519_key-cert.pub",
            "PidFile none",
            f"TrustedUserCAKeys {layout.user_ca}.pub",
            "AuthorizedKeysFile none",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "PermitRootLogin no",
            "UsePAM no",
            "UseDNS no",
            "MaxSessions 10",
            "MaxStartups 64:30:128",
            "MaxAuthTries 6",
            "LoginGraceTime 30",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "AllowTcpForwarding yes",
            "AcceptEnv LANG LC_*",
            f"SetEnv SLURM_CONF={layout.slurm_conf(node.cluster)}",
            "Subsystem sftp internal-sftp",
            "LogLevel INFO",
            "",
        ]
    )


def namespace_script_text(layout: Layout, node: EntryNode) -> str:
    """The script run inside the entry node's private mount namespace before sshd.

    It makes storage visibility real: hot pools the node must not see are covered by an
    empty read-only tmpfs, cold pools are remounted read-only unless the node is a data
    node, the raw pools under $TESTBED are hidden, and /etc/passwd names the node's homes.
    """
    q = shlex.quote
    lines = ["#!/bin/sh", f"# suan testbed: mount namespace of {node.name}", "set -e"]
    for pool in HOT_POOLS:
        if pool not in node.hot_visible:
            lines.append(f"mount -t tmpfs -o ro,mode=0755,size=4k hidden {q('/' + pool)}")
    if not node.cold_writable:
        for mount in (*COLD_POOLS, UNION_MOUNT.name):
            lines.append(f"mount -o remount,bind,ro {q('/' + mount)}")
    lines.append(f"mount -t tmpfs -o ro,mode=0700,size=4k hidden {q(str(layout.storage))}")
    lines.append(f"mount --bind {q(str(layout.passwd_file(node.home_pool)))} /etc/passwd")
    sshd_cfg = layout.ssh_dir(node.name) / "sshd_config"
    sshd_log = layout.logs / f"sshd-{node.name}.log"
    lines.append(f"exec /usr/sbin/sshd -D -f {q(str(sshd_cfg))} -E {q(str(sshd_log))}")
    return "\n".join(lines) + "\n"


def passwd_text(host_passwd: str, home_pool: str) -> str:
    """/etc/passwd for entry nodes whose homes live on ``home_pool``."""
    homes = {user.name: str(home_of(home_pool, user.name)) for user in USERS}
    out = []
    for line in host_passwd.splitlines():
        fields = line.split(":")
        if len(fields) == 7 and fields[0] in homes:
            fields[5] = homes[fields[0]]
            fields[6] = "/bin/bash"
        out.append(":".join(fields))
    return "\n".join(out) + "\n"


def known_hosts_text(host_ca_pub: str) -> str:
    """Clients trust every entry node through the host CA."""
    return f"@cert-authority [127.0.0.*]:{SSH_PORT} {host_ca_pub.strip()}\n"


QUOTA_LIMITS = {
    "user": {
        "lustre": 5_000_000_000_000,
        "dssg": 5_000_000_000_000,
        "archive": 20_000_000_000_000,
        "vault": 20_000_000_000_000,
    },
    "account": {
        "lustre": 50_000_000_000_000,
        "dssg": 50_000_000_000_000,
        "archive": 200_000_000_000_000,
        "vault": 200_000_000_000_000,
    },
}


def api_config_text(layout: Layout, passwords: dict[str, str]) -> str:
    """config.json of the HPC API stand-in (holds passwords: 0600)."""
    users = {
        user.name: {
            "password": passwords[user.name],
            "uid": user.uid,
            "gid": ACCOUNT_GID,
            "group": ACCOUNT,
            "email": f"{user.name}@sjtu.edu.cn",
            "jaccount": user.name,
            "home": f"%H/home/{ACCOUNT}/{user.name}",
        }
        for user in USERS
    }
    config = {
        "users": users,
        "user_ca": str(layout.user_ca),
        "storage_root": str(layout.storage),
        "quota_limits": QUOTA_LIMITS,
        "auto_approve_seconds": None,
    }
    return json.dumps(config, indent=2) + "\n"


def _toml_str(value: str) -> str:
    # json string escapes are a subset TOML basic strings accept.
    return json.dumps(value, ensure_ascii=False)


def suan_toml_text(layout: Layout) -> str:
    """suan's config: profile ``testbed`` (hpcuser) and ``otheruser``."""
    lines = ['default_profile = "testbed"', ""]
    for profile, user in (("testbed", "hpcuser"), ("otheruser", "otheruser")):
        lines += [
            f"[profiles.{profile}]",
            'site = "sjtu"',
            f"username = {_toml_str(user)}",
            f'api_url = "http://{API_HOST}:{API_PORT}"',
            f"known_hosts = {_toml_str(str(layout.known_hosts))}",
            'secrets = "file"',
            f"data_dir = {_toml_str(str(layout.root / 'suan-data' / profile))}",
            "",
            f"[profiles.{profile}.hosts]",
            *(f"{node.name} = {_toml_str(node.endpoint)}" for node in ENTRY_NODES),
            "",
        ]
    return "\n".join(lines)


def testbed_env_text(layout: Layout, passwords: dict[str, str]) -> str:
    """testbed.env: exactly the keys tests read."""
    values = {
        "TESTBED": str(layout.root),
        "SUAN_CONFIG": str(layout.suan_toml),
        "KNOWN_HOSTS": str(layout.known_hosts),
        "HPC_API_URL": f"http://{API_HOST}:{API_PORT}",
        "HPC_API_CONTROL_URL": f"http://{API_HOST}:{API_PORT}/_testbed",
        "HPC_API_APPROVE_URL": f"http://{API_HOST}:{API_PORT}/_testbed/approve",
        "SSH_CONFIG": str(layout.ssh_config),
        "HPCUSER_PASSWORD": passwords["hpcuser"],
        "OTHERUSER_PASSWORD": passwords["otheruser"],
        "USER_CA": str(layout.user_ca),
        "HOST_CA_PUB": f"{layout.host_ca}.pub",
        "SLURM_CONF_PI": str(layout.slurm_conf("pi")),
        "SLURM_CONF_SY": str(layout.slurm_conf("sy")),
        "ENTRY_NODES": entry_nodes_value(),
    }
    return "".join(f"{key}={value}\n" for key, value in values.items())


def ssh_config_text(layout: Layout) -> str:
    """Host aliases logging in to every entry node as hpcuser with the client certificate."""
    key = layout.client_dir / "id_ed25519"
    lines = [
        f"Host {' '.join(node.name for node in ENTRY_NODES)}",
        "    User hpcuser",
        f"    Port {SSH_PORT}",
        f"    IdentityFile {key}",
        f"    CertificateFile {key}-cert.pub",
        "    IdentitiesOnly yes",
        f"    UserKnownHostsFile {layout.known_hosts}",
        "    GlobalKnownHostsFile /dev/null",
        "    StrictHostKeyChecking yes",
        "    BatchMode yes",
        "    LogLevel ERROR",
    ]
    for node in ENTRY_NODES:
        lines += [f"Host {node.name}", f"    HostName {node.address}"]
    return "\n".join(lines) + "\n"
