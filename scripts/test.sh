#!/usr/bin/env bash
# The full test suite, from a fresh machine: set up (scripts/install.sh), a running Docker
# engine with the offline base image and a local registry (scripts/docker_up.sh), then
# pytest, slow tests (real TensorFlow, ddsp, FluidSynth, GCS emulator, Docker) included.
#
#   bash scripts/test.sh                  # everything, in two runs (below); what CI runs
#   bash scripts/test.sh [pytest args]    # one pytest run in .venv with these arguments
#
# With no arguments the suite runs twice over, each test once: `-m "not slow"` in a second
# virtualenv holding only the host package and its test tools (.venv-host: no TensorFlow,
# no ddsp, which is how most users install ddsp-launch), then `-m slow` in .venv with the
# training stack. Under CI=true (.ci/run sets it) no test may skip, a missing prerequisite
# is a failure naming what to install, and the last line counts both runs.
set -euo pipefail
cd "$(dirname "$0")/.."
DDSP_LAUNCH_TEST_PACKAGES=1 bash scripts/install.sh
if ! bash scripts/docker_up.sh; then
  [ "${CI:-}" = true ] && { echo "error: CI needs a Docker engine (scripts/docker_up.sh failed)" >&2; exit 1; }
  echo "warning: no Docker engine here; the Docker tests will be skipped" >&2
fi
VENV=${DDSP_LAUNCH_VENV:-$PWD/.venv}
if (($#)); then
  exec "$VENV/bin/python" -m pytest "$@"
fi

# The host install: pyproject's dependencies and the test extra, pinned by the same files.
HOST=${DDSP_LAUNCH_HOST_VENV:-$PWD/.venv-host}
LOCK=requirements/trainer-py311.lock
want=$(cat "$LOCK" requirements/dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$HOST/.ddsp-launch-host" ] || [ "$(cat "$HOST/.ddsp-launch-host")" != "$want" ]; then
  printf '\033[1m==> %s\033[0m\n' "creating $HOST: ddsp-launch and its test tools, without the training stack" >&2
  [ -x "$HOST/bin/python" ] || "$VENV/bin/python" -m venv "$HOST"
  "$HOST/bin/python" -m pip install -q -c "$LOCK" -r requirements/dev.txt
  "$HOST/bin/python" -m pip install -q -c "$LOCK" -c requirements/dev.txt -e '.[test]'
  echo "$want" > "$HOST/.ddsp-launch-host"
fi
if "$HOST/bin/python" -c 'import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in ("tensorflow", "ddsp", "librosa")))'; then :; else
  echo "error: $HOST holds part of the training stack; the host-only run would prove nothing (remove $HOST)" >&2
  exit 1
fi

# Two pytest-xdist workers on a machine with two or more cores (DDSP_LAUNCH_TEST_WORKERS to
# choose; 0 runs in one process). --dist loadfile keeps each test module on one worker, so a
# module's trained model or registry is made once; session fixtures that must not run twice at
# once (rendering example audio, building the CPU image) hold a lock (tests/conftest.py).
WORKERS=${DDSP_LAUNCH_TEST_WORKERS:-$(( $(nproc) >= 2 ? 2 : 0 ))}
OPTS=(-q --durations=25 -p no:cacheprovider)
((WORKERS > 0)) && OPTS+=(-n "$WORKERS" --dist loadfile)
mkdir -p build
start=$(date +%s)
host=0 full=0
"$HOST/bin/python" -m pytest "${OPTS[@]}" -m "not slow" --junitxml=build/tests-host.xml || host=$?
"$VENV/bin/python" -m pytest "${OPTS[@]}" -m slow --junitxml=build/tests-full.xml || full=$?
"$VENV/bin/python" - "$(($(date +%s) - start))" build/tests-host.xml build/tests-full.xml <<'PY'
import sys
import xml.etree.ElementTree as ET

secs, counts = int(sys.argv[1]), {}
for name, path in (("host install, not slow", sys.argv[2]), ("training stack, slow", sys.argv[3])):
    try:
        suite = ET.parse(path).getroot().find("testsuite")
    except (OSError, ET.ParseError):
        suite = None
    got = {k: int(suite.get(k, 0)) if suite is not None else 0 for k in ("tests", "failures", "errors", "skipped")}
    counts[name] = got
total = {k: sum(c[k] for c in counts.values()) for k in ("tests", "failures", "errors", "skipped")}
ran = total["tests"] - total["skipped"]
parts = "; ".join(f"{name}: {c['tests'] - c['skipped']}" for name, c in counts.items())
print(f"tests: {ran} ran ({parts}), {total['skipped']} skipped, {total['failures']} failed, "
      f"{total['errors']} errors, in {secs // 60}m{secs % 60:02d}s")
print(f"ci: {ran - total['failures'] - total['errors']} passed, {total['failures'] + total['errors']} failed, "
      f"{total['skipped']} skipped")
PY
if ((host || full)); then
  echo "error: the host-only run exited $host, the training-stack run $full" >&2
  exit 1
fi
