#!/usr/bin/env bash
# Builds testrunner-hostfs:latest without a registry: an empty image made with
# `docker import`. Containers from it bind-mount the host's /usr /lib /lib64 /bin /etc
# read-only (see scenarios/fragments/pg.yaml), so they run the host's programs —
# /bin/sh, sleep, PostgreSQL 15 from /usr/lib/postgresql/15/bin.
set -euo pipefail
IMAGE=${1:-testrunner-hostfs:latest}
if ! docker info >/dev/null 2>&1; then
  echo "build-image: the Docker daemon is not reachable (is it running? scripts/setup.sh starts it)" >&2
  exit 1
fi
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "build-image: $IMAGE exists"
  exit 0
fi
tar -cf - --files-from /dev/null | docker import - "$IMAGE" >/dev/null
echo "build-image: built $IMAGE (empty; bind-mount the host's /usr /lib /lib64 /bin /etc)"
