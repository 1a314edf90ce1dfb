#!/usr/bin/env bash
# Create (if missing) the test suite's Python venv, testsuite/.venv, and install
# testsuite/requirements.txt into it. Idempotent: pip runs only when the
# requirements changed since the last successful install (a stamp file holds
# their hash), so CI and developers can call it before every test run.
# Usage: testsuite/setup_venv.sh   (prints the venv's python path at the end)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
want="$( (cat "$req"; "$venv/bin/python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
