#!/usr/bin/env bash
# The main job, from a fresh machine: set up, render example violin audio, prepare it
# as a DDSP dataset, and train a small model on it: in the CPU training image when a
# Docker engine answers (building it first), otherwise as a local process (it says so).
#
#   bash scripts/quickstart.sh
#   DDSP_LAUNCH_BASE_IMAGE=local/debian:bookworm bash scripts/quickstart.sh   # offline base image
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
VENV=${DDSP_LAUNCH_VENV:-$PWD/.venv}
PY="$VENV/bin/python"
DATA=${DDSP_LAUNCH_DATA:-$PWD/data}

printf '\033[1m==> %s\033[0m\n' "rendering example audio (cached)" >&2
"$PY" scripts/render_examples.py --instrument violin --out "$DATA/examples/violin"

if [ -f "$DATA/violin-dataset/manifest.json" ]; then
  printf '\033[1m==> %s\033[0m\n' "dataset $DATA/violin-dataset is complete (delete it to prepare again)" >&2
else
  printf '\033[1m==> %s\033[0m\n' "preparing the dataset" >&2
  "$VENV/bin/ddsp-launch" prepare "$DATA/examples/violin" "$DATA/violin-dataset" --eval-fraction 0.1 --overwrite
fi

STEPS=${DDSP_LAUNCH_STEPS:-30}
MODEL="$DATA/violin-model"
printf '\033[1m==> %s\033[0m\n' "training a small model ($STEPS steps; rerun to continue, Ctrl-C saves)" >&2
"$VENV/bin/ddsp-launch" train --yes --target "${DDSP_LAUNCH_RUNTIME:-auto}" --device cpu \
  --data "$DATA/violin-dataset" --output "$MODEL" \
  --base-image "${DDSP_LAUNCH_BASE_IMAGE:-python:3.11-slim-bookworm}" \
  --batch-size 4 --num-steps "$STEPS" --steps-per-save 10 --steps-per-summary 10

cat <<MSG

Done.
  audio:        $DATA/examples/violin/
  dataset:      $DATA/violin-dataset/   (manifest.json: sources, counts, parameters)
  checkpoints:  $MODEL/ckpt-*           (operative_config-*.gin beside them)
  TensorBoard:  $MODEL/summaries/train/ (losses, steps/s, learning rate, audio)
View training:  the TensorBoard URL printed above (still running; later: $VENV/bin/ddsp-launch tensorboard "$MODEL/summaries")
Run records:    $VENV/bin/ddsp-launch runs
Your own audio: $VENV/bin/ddsp-launch   (asks what it needs)
Train longer:   DDSP_LAUNCH_STEPS=3000 bash scripts/quickstart.sh   (resumes where it stopped)
MSG
