#!/usr/bin/env bash
# Set up everything ddsp-launch needs on a Debian/Ubuntu machine with Python 3.11:
# system packages for audio, a virtualenv (.venv) holding the pinned training stack,
# and this project. Safe to rerun: each step is skipped when already done.
#
#   bash scripts/install.sh            # then: source .venv/bin/activate
#
# Environment: DDSP_LAUNCH_VENV (default .venv), PYTHON (default python3.11 or python3).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${DDSP_LAUNCH_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
LOCK=requirements/trainer-py311.lock

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# 1. System packages: libsndfile (audio I/O), FluidSynth + a sampled soundfont + sox (example audio);
#    for the test suite (DDSP_LAUNCH_TEST_PACKAGES=1, set by scripts/test.sh) also Debian's
#    chromium and its driver, to drive the web interface in a real browser.
APT_PACKAGES=(libsndfile1 fluidsynth fluidr3mono-gm-soundfont sox)
[ "${DDSP_LAUNCH_TEST_PACKAGES:-}" = 1 ] && APT_PACKAGES+=(chromium chromium-driver)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Python version: the lock is for 3.11.
pyver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$pyver" != "3.11" ]; then
  echo "error: the training stack is locked for Python 3.11, but $PYTHON is $pyver." >&2
  echo "  Fix: install python3.11 and rerun with PYTHON=python3.11 bash scripts/install.sh" >&2
  exit 2
fi

# 3. The virtualenv, with exactly the locked training stack (no resolution: --no-deps).
stamp="$VENV/.ddsp-launch-installed"
want=$(cat "$LOCK" requirements/dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  say "environment $VENV is up to date"
else
  [ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
  say "installing the pinned training stack ($LOCK)"
  "$VENV/bin/python" -m pip install -q --upgrade pip==25.3
  "$VENV/bin/python" -m pip install -q --no-deps -r "$LOCK"
  say "installing ddsp-launch and its command-line and test tools"
  "$VENV/bin/python" -m pip install -q -c "$LOCK" -r requirements/dev.txt
  "$VENV/bin/python" -m pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi
"$VENV/bin/ddsp-launch" version
