#!/usr/bin/env bash
# Make a Debian 12 base image with Python 3.11 offline, from Debian's packages alone
# (debootstrap), for machines that cannot pull from Docker Hub. Skipped if it exists.
#
#   bash scripts/make_base_image.sh [IMAGE]      # default local/debian:bookworm
#   ddsp-launch build --cpu --base-image local/debian:bookworm
set -euo pipefail
IMAGE=${1:-local/debian:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base image $IMAGE exists" >&2
  exit 0
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
command -v debootstrap >/dev/null || {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}
ROOTFS=$(mktemp -d /tmp/ddsp-launch-rootfs.XXXXXX)
trap '$SUDO rm -rf "$ROOTFS"' EXIT
echo "==> debootstrap bookworm into $ROOTFS (about a minute)" >&2
$SUDO debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
  bookworm "$ROOTFS" "$MIRROR" >/tmp/ddsp-launch-debootstrap.log 2>&1 \
  || { tail -20 /tmp/ddsp-launch-debootstrap.log >&2; exit 1; }
$SUDO rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
$SUDO tar -C "$ROOTFS" -c . | docker import --change 'CMD ["python3"]' - "$IMAGE" >/dev/null
echo "==> made base image $IMAGE" >&2
