#!/usr/bin/env bash
# Installs what suan's development and tests need on a bare Debian machine, idempotently:
# Debian packages, a .venv built from Debian's python3 (so the testbed and the tests use one
# interpreter on any machine), and the project in editable mode with its dev extra.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for cmd in python3 tmux ssh ssh-keygen; do
    command -v "/usr/bin/$cmd" >/dev/null 2>&1 || need_apt+=("$cmd")
done
if [ ! -x /usr/bin/python3 ] || ! /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null \
    || [ ${#need_apt[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip \
        openssh-client tmux >/dev/null
fi

hash_file=.venv/.pyproject.sha256
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$hash_file" 2>/dev/null)" != "$want" ]; then
    rm -rf .venv
    /usr/bin/python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[dev]'
    echo "$want" > "$hash_file"
fi
