#!/usr/bin/env bash
# The main job on a fresh machine: set up (scripts/setup.sh), build testrunner and the
# reference HA lab, and run scenarios/val17.yaml end to end. Extra arguments go to
# `testrunner run` (e.g. --out DIR, --var name=value).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --bins
export PATH="$PWD/target/release:$PATH"
exec testrunner run scenarios/val17.yaml "$@"
