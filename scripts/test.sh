#!/usr/bin/env bash
# The full test suite, from a fresh machine: set up (scripts/install.sh), then pytest,
# slow tests (real TensorFlow, ddsp, FluidSynth, GCS emulator) included.
#
#   bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
VENV=${DDSP_LAUNCH_VENV:-$PWD/.venv}
exec "$VENV/bin/python" -m pytest "$@"
