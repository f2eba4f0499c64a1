#!/usr/bin/env bash
# Checks that the Rust toolchain on PATH is at least the workspace's `rust-version`
# (Cargo.toml). Debian bookworm's own rustc (1.63) is too old: install rustup's.
# Exit 0 when it is new enough, 1 with a message saying what to do otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
need=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n1)
fix="install it with rustup (https://rustup.rs): curl --proto '=https' -sSf https://sh.rustup.rs | sh -s -- -y --default-toolchain $need, then open a new shell (or: . \"\$HOME/.cargo/env\")"
if ! command -v rustc >/dev/null 2>&1 || ! command -v cargo >/dev/null 2>&1; then
  echo "setup: Rust $need or newer is needed to build testrunner, and no rustc/cargo is on PATH: $fix" >&2
  exit 1
fi
have=$(rustc --version | awk '{print $2}')
# Compare major.minor.patch numerically; a pre-release suffix (1.90.0-nightly) is ignored.
older=$(printf '%s\n%s\n' "${have%%-*}" "$need" | sort -t. -k1,1n -k2,2n -k3,3n | head -n1)
if [ "$older" != "$need" ] && [ "${have%%-*}" != "$need" ]; then
  echo "setup: Rust $need or newer is needed to build testrunner (Cargo.toml rust-version), found rustc $have at $(command -v rustc) (Debian bookworm's own rustc is too old): $fix" >&2
  exit 1
fi
echo "setup: rustc $have (needs $need or newer): ok"
