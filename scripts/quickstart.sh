#!/usr/bin/env bash
# The main job, from a fresh machine: set up, render example violin audio, prepare it
# as a DDSP dataset, and train a small model on it (as a local process).
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

if [ -f "$DATA/violin-dataset/manifest.json" ]; then
  printf '\033[1m==> %s\033[0m\n' "dataset $DATA/violin-dataset is complete (delete it to prepare again)" >&2
else
  printf '\033[1m==> %s\033[0m\n' "preparing the dataset" >&2
  "$VENV/bin/ddsp-launch" prepare "$DATA/examples/violin" "$DATA/violin-dataset" --eval-fraction 0.1 --overwrite
fi

STEPS=${DDSP_LAUNCH_STEPS:-30}
MODEL="$DATA/violin-model"
printf '\033[1m==> %s\033[0m\n' "training a small model ($STEPS steps; rerun to continue, Ctrl-C saves)" >&2
"$VENV/bin/ddsp-launch" train --save_dir "$MODEL" --file_pattern "$DATA/violin-dataset/train.tfrecord*" \
  --batch_size 4 --num_steps "$STEPS" --steps_per_save 10 --steps_per_summary 10 --log_every 5

cat <<MSG

Done.
  audio:        $DATA/examples/violin/
  dataset:      $DATA/violin-dataset/   (manifest.json: sources, counts, parameters)
  checkpoints:  $MODEL/ckpt-*           (operative_config-*.gin beside them)
  TensorBoard:  $MODEL/summaries/train/ (losses, steps/s, learning rate, audio)
View training:  $VENV/bin/tensorboard --logdir "$MODEL/summaries" --host 127.0.0.1 --port 6006
Train longer:   DDSP_LAUNCH_STEPS=3000 bash scripts/quickstart.sh   (resumes where it stopped)
MSG
