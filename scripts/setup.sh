#!/usr/bin/env bash
# Installs and starts what testrunner's tests and shipped scenarios need on a fresh
# Debian bookworm machine, idempotently:
#   - Debian packages: postgresql-15 (server binaries only; no cluster is started),
#     libxml2-utils (xmllint, to validate junit.xml), python3 (the kubectl stub),
#     nftables, iproute2 and util-linux (nft, tc, nsenter: the network-fault actions)
#   - PyYAML and jsonschema for that python3 (pip; the test that checks `testrunner schema`),
#     and kubernetes-validate, check-jsonschema and yamllint (pip; the test of deploy/)
#   - a check that the Rust toolchain is at least Cargo.toml's rust-version
#     (scripts/check-toolchain.sh; Debian bookworm's own rustc is too old)
#   - the Docker daemon, started if it is installed but not running
#   - the local image testrunner-hostfs:latest (scripts/build-image.sh; no registry needed)
set -euo pipefail
cd "$(dirname "$0")/.."

# First: without a new enough Rust nothing else is worth installing.
scripts/check-toolchain.sh

need=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15 postgresql-client-15)
command -v xmllint >/dev/null || need+=(libxml2-utils)
command -v python3 >/dev/null || need+=(python3)
command -v docker >/dev/null || need+=(docker.io)
# Network faults: net.partition (nft), net.netem (tc), both entered through nsenter.
command -v nft >/dev/null || need+=(nftables)
command -v tc >/dev/null || need+=(iproute2)
command -v nsenter >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The Debian package creates and starts a default cluster; the tests start their own.
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h 2>/dev/null | awk '{print $1, $2}' | while read -r v c; do pg_ctlcluster "$v" "$c" stop 2>/dev/null || true; done
  fi
fi

# PyYAML and jsonschema for the `python3` the tests will call (which may be a pyenv one,
# not Debian's): through pip for that interpreter, apt's packages when it has no pip.
if ! python3 -c 'import yaml, jsonschema' 2>/dev/null; then
  echo "setup: installing PyYAML and jsonschema for $(command -v python3)"
  python3 -m pip install -q pyyaml jsonschema 2>/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-yaml python3-jsonschema >/dev/null
  }
  python3 -c 'import yaml, jsonschema' || { echo "setup: PyYAML / jsonschema still missing for python3" >&2; exit 1; }
fi

# The offline validators of deploy/ (no cluster and no CI service exist here).
if ! { command -v kubernetes-validate && command -v check-jsonschema && command -v yamllint; } >/dev/null 2>&1; then
  echo "setup: installing kubernetes-validate, check-jsonschema and yamllint for $(command -v python3)"
  python3 -m pip install -q kubernetes-validate check-jsonschema yamllint
fi

if ! docker info >/dev/null 2>&1; then
  echo "setup: starting the Docker daemon"
  if command -v systemctl >/dev/null && systemctl start docker 2>/dev/null; then :; else
    (dockerd >/var/log/dockerd.log 2>&1 &)
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "setup: the Docker daemon did not start (see /var/log/dockerd.log)" >&2; exit 1; }
fi

scripts/build-image.sh
echo "setup: ok"
