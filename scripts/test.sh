#!/usr/bin/env bash
# The test command: installs/starts what the tests need (scripts/setup.sh), then runs
# every test of the workspace (unit, golden CLI, reporter snapshots, real Docker and
# PostgreSQL integration, the shipped scenarios end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --workspace --bins
cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-4}"
