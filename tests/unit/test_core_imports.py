"""``core`` is the part without a UI: importing any of it never imports textual."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter so nothing imported by other tests (or pytest plugins such
# as pytest-textual-snapshot) hides an import of textual.
PROBE = """
import importlib, json, pkgutil, sys
import core
names = ["core"]
for info in pkgutil.walk_packages(core.__path__, "core."):
    names.append(info.name)
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps({
    "modules": names,
    "failed": failed,
    "ui": sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "tui", "widgets")),
}))
"""


def test_no_core_module_imports_textual() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # The walk must actually find the modules, or the check below proves nothing.
    assert {"core.site", "core.config", "core.routing", "core.ssh"} <= set(report["modules"])
    assert report["failed"] == {}
    assert report["ui"] == []
