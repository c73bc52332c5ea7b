#!/usr/bin/env bash
# Take the suan testbed down: stop what up.sh started, unmount, purge $TESTBED. See testbed.py.
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/testbed.py" down "$@"
