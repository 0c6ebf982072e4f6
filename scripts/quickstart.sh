#!/usr/bin/env bash
# The main job, from a fresh machine: set up, render example violin audio, prepare it
# as a DDSP dataset. (Training joins this script with the trainer.)
#
#   bash scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
VENV=${DDSP_LAUNCH_VENV:-$PWD/.venv}
PY="$VENV/bin/python"
DATA=${DDSP_LAUNCH_DATA:-$PWD/data}

printf '\033[1m==> %s\033[0m\n' "rendering example audio (cached)" >&2
"$PY" scripts/render_examples.py --instrument violin --out "$DATA/examples/violin"

printf '\033[1m==> %s\033[0m\n' "preparing the dataset" >&2
"$VENV/bin/ddsp-launch" prepare "$DATA/examples/violin" "$DATA/violin-dataset" --eval-fraction 0.1 --overwrite

cat <<MSG

Done.
  audio:    $DATA/examples/violin/
  dataset:  $DATA/violin-dataset/  (manifest.json lists sources, counts and parameters)
Next: source $VENV/bin/activate && ddsp-launch --help
MSG
