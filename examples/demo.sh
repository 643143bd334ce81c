#!/usr/bin/env bash
# The README's demo command: set up, record a few demo runs to demo.db, open the monitor.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/python -m pip install --quiet -e ".[ui]"
.venv/bin/python examples/demo.py demo.db
exec .venv/bin/pocketflow-ext monitor demo.db "$@"
