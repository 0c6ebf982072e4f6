#!/usr/bin/env bash
# Make sure a Docker engine answers here: install Debian's docker.io if missing, start
# dockerd if it is not running, and make the offline base image the tests build from.
# Also installs the local registry (docker-registry) and htpasswd the push tests use.
#
#   bash scripts/docker_up.sh          # as root, or with sudo
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
want=()
command -v dockerd >/dev/null || want+=(docker.io)
command -v docker-registry >/dev/null || want+=(docker-registry)
command -v htpasswd >/dev/null || want+=(apache2-utils)
command -v debootstrap >/dev/null || want+=(debootstrap)
if ((${#want[@]})); then
  echo "==> installing ${want[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi
# Debian's package starts a registry on :5000 as a service where services run; the tests
# start their own, so stop that one if it is there.
$SUDO pkill -f '^/usr/bin/docker-registry serve /etc/docker/registry/config.yml' 2>/dev/null || true
if ! docker info >/dev/null 2>&1; then
  echo "==> starting dockerd (log: /tmp/dockerd.log)" >&2
  $SUDO sh -c 'nohup dockerd >/tmp/dockerd.log 2>&1 &'
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 /tmp/dockerd.log >&2; echo "dockerd did not start" >&2; exit 1; }
fi
bash scripts/make_base_image.sh local/debian:bookworm
