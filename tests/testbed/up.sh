#!/usr/bin/env bash
# Bring the suan testbed up (idempotent): up.sh [--seed]. See testbed.py.
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/testbed.py" up "$@"
