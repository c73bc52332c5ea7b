#!/usr/bin/env bash
# The README's test command: bootstrap, bring the testbed up (seeded), then lint, type-check
# and run the whole test suite against it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash tests/testbed/up.sh --seed
export PATH="$PWD/.venv/bin:$PATH"
# A demo may have left the stand-in API approving by itself: tests start from its defaults.
python - "${TESTBED:-/tmp/suan-testbed}/testbed.env" <<'PY'
import sys

import httpx

env = dict(line.split("=", 1) for line in open(sys.argv[1]).read().splitlines() if "=" in line)
url = env["HPC_API_CONTROL_URL"]
httpx.post(f"{url}/reset", timeout=10).raise_for_status()
httpx.post(f"{url}/config", json={"auto_approve_seconds": None}, timeout=10).raise_for_status()
PY
ruff check .
ruff format --check .
mypy
MYPYPATH=tests/testbed mypy --strict --config-file /dev/null \
    -m layout -m daemons -m seed -m testbed -m hpc_api
pytest -q -p no:cacheprovider "$@"
