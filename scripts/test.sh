#!/usr/bin/env bash
# The README's test command: bootstrap, bring the testbed up (seeded), then lint, type-check
# and run the whole test suite against it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash tests/testbed/up.sh --seed
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
ruff format --check .
mypy
MYPYPATH=tests/testbed mypy --strict --config-file /dev/null \
    -m layout -m daemons -m seed -m testbed -m hpc_api
pytest -q -p no:cacheprovider "$@"
