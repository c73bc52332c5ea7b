#!/usr/bin/env bash
# The README's demo: the local testbed cluster, then suan on it. The stand-in API approves
# the second factor by itself after 5 s, as a person with the 交我办 app would.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash tests/testbed/up.sh --seed
# shellcheck disable=SC1091
source "${TESTBED:-/tmp/suan-testbed}/testbed.env"
.venv/bin/python - "$HPC_API_CONTROL_URL/config" <<'PY'
import sys

import httpx

httpx.post(sys.argv[1], json={"auto_approve_seconds": 5}, timeout=10).raise_for_status()
PY
echo "Log in as hpcuser with the password: $HPCUSER_PASSWORD"
SUAN_CONFIG="$SUAN_CONFIG" exec .venv/bin/suan "$@"
