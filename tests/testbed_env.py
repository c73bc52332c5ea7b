"""Where the live testbed is and how to reach it, read from ``$TESTBED/testbed.env``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


def testbed_dir() -> Path:
    return Path(os.environ.get("TESTBED", "/tmp/suan-testbed"))


@dataclass(frozen=True)
class TestbedEnv:
    """The keys ``tests/testbed/up.sh`` writes to ``$TESTBED/testbed.env``."""

    __test__ = False  # not a pytest test class

    values: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.values[key]

    @property
    def root(self) -> Path:
        return Path(self.values["TESTBED"])

    @property
    def config_path(self) -> Path:
        return Path(self.values["SUAN_CONFIG"])

    @property
    def known_hosts(self) -> Path:
        return Path(self.values["KNOWN_HOSTS"])

    @property
    def api_url(self) -> str:
        return self.values["HPC_API_URL"]

    @property
    def control_url(self) -> str:
        return self.values["HPC_API_CONTROL_URL"]

    @property
    def user_ca(self) -> Path:
        return Path(self.values["USER_CA"])

    def password(self, user: str = "hpcuser") -> str:
        return self.values[f"{user.upper()}_PASSWORD"]

    def entry_nodes(self) -> dict[str, tuple[str, int]]:
        """``pilogin`` → (``127.0.0.2``, 2222) and so on."""
        nodes: dict[str, tuple[str, int]] = {}
        for item in self.values["ENTRY_NODES"].split(","):
            name, _, addr = item.partition("=")
            host, _, port = addr.rpartition(":")
            nodes[name] = (host, int(port))
        return nodes

    def seeded(self) -> dict[str, str]:
        """Seeded job name → job id (from ``$TESTBED/seeded.json``)."""
        data: dict[str, str] = json.loads((self.root / "seeded.json").read_text())
        return data


def load_testbed_env() -> TestbedEnv | None:
    path = testbed_dir() / "testbed.env"
    if not path.exists():
        return None
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return TestbedEnv(values)
