#!/usr/bin/env bash
# Builds testrunner-hostfs:latest without a registry: an empty image made with
# `docker import` of an empty tar. Containers from it bind-mount the host's
# /usr /lib /lib64 /bin /etc (and /sbin when it is a real directory) read-only and use
# host networking (see scenarios/fragments/pg.yaml), so they run the host's programs:
# /bin/sh, sleep, PostgreSQL 15 from /usr/lib/postgresql/15/bin.
# Idempotent: an existing image is left alone. Usage: scripts/build-image.sh [IMAGE]
set -euo pipefail
IMAGE=${1:-testrunner-hostfs:latest}
if ! command -v docker >/dev/null 2>&1; then
  echo "build-image: the docker client is not installed (scripts/setup.sh installs it)" >&2
  exit 1
fi
if ! err=$(docker info 2>&1 >/dev/null); then
  echo "build-image: the Docker daemon is not reachable (is it running? scripts/setup.sh starts it): ${err##*$'\n'}" >&2
  exit 1
fi
if id=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null); then
  echo "build-image: $IMAGE exists ($id), nothing to do"
  exit 0
fi
id=$(tar -cf - --files-from /dev/null | docker import --message "testrunner host-fs base (empty)" - "$IMAGE")
echo "build-image: built $IMAGE ($id): empty; bind-mount the host's /usr /lib /lib64 /bin /etc read-only"
