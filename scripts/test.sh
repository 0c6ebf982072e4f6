#!/usr/bin/env bash
# The full test suite, from a fresh machine: set up (scripts/install.sh), a running Docker
# engine with the offline base image and a local registry (scripts/docker_up.sh), then
# pytest, slow tests (real TensorFlow, ddsp, FluidSynth, GCS emulator, Docker) included.
#
#   bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
DDSP_LAUNCH_TEST_PACKAGES=1 bash scripts/install.sh
if ! bash scripts/docker_up.sh; then
  [ "${CI:-}" = true ] && { echo "error: CI needs a Docker engine (scripts/docker_up.sh failed)" >&2; exit 1; }
  echo "warning: no Docker engine here; the Docker tests will be skipped" >&2
fi
VENV=${DDSP_LAUNCH_VENV:-$PWD/.venv}
exec "$VENV/bin/python" -m pytest "$@"
